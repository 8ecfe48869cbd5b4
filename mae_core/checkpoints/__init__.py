"""Checkpoints, from a name to a loaded model: ``registry`` (entries as data, cache places), ``sources`` (a name,
file, ``hf://`` or URL resolved to a file), ``downloads`` (network fetches), ``checkpoint_files`` (reading and
writing weight files), ``convert`` (foreign names -> official ones, architecture from tensors), ``loading``
(``load_model``), ``errors`` (one class per reason a checkpoint cannot load), ``model_cache`` (load once, share)."""
