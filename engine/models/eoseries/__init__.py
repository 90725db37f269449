"""The eoseries family: Presto or Galileo, frozen, read each pixel's season; a light head learns the classes."""
