"""report.html: one self-contained page per experiment that tells the story of a search, from its files.

Entry point: `page.write_report(location)`. Sections, one module each: `searched` (what was searched), `board`
(the leaderboard and the fold spread), `compute` (score against compute), `curves` (learning curves), `effects`
(what each hyperparameter does, with `effects_plots`), `errors` (where the best configuration errs: out-of-fold
predictions from `oof`, thumbnails from `gallery`), `adaptive` (Optuna, ASHA and the race), `model_section` (the final
model). `inputs` reads the experiment once; `blocks` and `figures` are what sections are made of.
"""
