"""Running models on images and measuring them: ``preprocess`` (images in, ImageNet normalisation), ``engine``
(the batched study: models x images x masks x ratios x seeds), ``packed`` (many ratios in one token-packed pass),
``prefetch`` (the next batch's images decoded in the background), ``metrics`` (per-image numbers), ``perceptual``
(LPIPS), ``reconstruct`` (one image's panels) and ``heatmap`` (a per-patch error picture)."""
