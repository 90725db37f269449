"""CMX RGB-X fusion (Zhang et al. 2023): two MiT streams, FRM + FFM at every stage, all-MLP decoder."""
