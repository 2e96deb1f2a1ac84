"""The main job from one recipe: fine-tune a teacher, distil a student (from it, and from further teachers in
`student.teachers` beside it), trim its vocabulary, export it (by default the fastest batch-independent target on
this machine), evaluate them (`eval_protocol`), write the scores into their cards, benchmark them side by side,
and write a report.

`recipe.py` holds the recipe (PipelineConfig, load_pipeline), `stages.py` runs the stages (run_pipeline) and
`report.py` writes report.md / report.json.
"""

from destila.pipeline.recipe import PipelineConfig, export_target, load_pipeline, use_sample_data
from destila.pipeline.report import build_report, write_report
from destila.pipeline.stages import STAGE_FILE, Runner, best_student, check_data, run_pipeline

__all__ = ["STAGE_FILE", "PipelineConfig", "Runner", "best_student", "build_report", "check_data", "export_target",
           "load_pipeline", "run_pipeline", "use_sample_data", "write_report"]
