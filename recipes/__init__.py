"""recipes: how this project makes its own checkpoints (training code and its data, never needed at run time).

``tiny_pair`` trains the bundled ``tiny-pixel`` / ``tiny-gan`` pair of ``mae_core/bundled/``. Recipes need the
packages of ``requirements-dev.txt``; nothing in ``mae_core``, ``experiments`` or the app imports them.
"""
