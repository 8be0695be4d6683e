"""The data layer: datasets, their validation, folds, the decode-once image cache, and the files of an
experiment folder. No torch training, no Ray.

Entry points: `datasets.load_index` (a `DatasetIndex` for any dataset kind); `layouts.listing` and
`validation.scan` (what is wrong with a Clothing Dataset, an image folder or a CSV dataset);
`folds.plan_folds` / `folds.load_fold_plan`; `image_cache.ensure_image_cache`; `synthetic.generate_synthetic_dataset`;
`download.download_clothing` / `download.download_fashion_mnist` (`archive.extract_zip_safely` unpacks);
`experiment_folder` (experiment.yaml, folds.json, dataset.json, versions.json, costs.json); `storage` (local paths and s3://,
`atomic_path`).
"""
