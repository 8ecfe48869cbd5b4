"""The MAE model and its steps: ``model`` (config, encoder, decoder, loss), ``masking`` (seeded noise, the kept and
removed patches), ``mask_strategies`` (removal orders beside the official random one), ``drawn_mask`` (a painting
as removed patches), ``patches`` (images <-> patch sequences, patch masks as pixels), ``pos_embed`` (sin-cos)."""
