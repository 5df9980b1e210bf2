"""Images in a run: ``<img …>`` tags, the image files code writes, what vision models are
sent, and the files image generators draw.

``files`` reads and checks image files (confined to the work dir and the team's
folder, size-capped, decoded by Pillow) and finds the ones a code block wrote;
``encode`` downscales them for a model and fetches web images; ``tags`` finds
``<img …>`` in text; ``pictures`` puts these together for one run. Services: the
run loop calls them; nothing here prints.
"""
