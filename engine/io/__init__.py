"""Files written safely: atomic writes, output locks, output safety, class/probability/QML/polygon writers."""
