"""One module per tab of the app: each lays its tab out (``build``) and connects its events (``wire``).

Layout and wiring are separate steps because events cross tabs: the Sweep reads the Compare tab's image and
checkpoints, and a finished sweep refreshes the Runs tab, which is laid out after it.
"""
