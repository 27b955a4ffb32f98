# Shared configuration, validation and helpers for every rule file.

from pathlib import Path
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError

from deweight import registry
from deweight._workflow import ConfigError, check_config, schema_choices
from deweight._workflow_inputs import (
    BLAZAR_CATALOG_INPUTS,
    RuleOutput,
    task_input_files,
)

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"

# Validate and fill the schema's defaults; a bad key is reported in a few lines.
try:
    check_config(
        config,
        SCHEMA,
        where="the workflow configuration (config/config.yaml, --configfile, --config)",
    )
except ConfigError as error:
    raise WorkflowError(str(error)) from None


# A task that realdata.sizes.<source> or realdata.model does not name takes this key's entry, so
# that adding a task needs no config edit (config/config.yaml states these defaults once).
DEFAULT_TASK_KEY = "default"


def check_task_settings(realdata):
    """Every registered task has sweep sizes and model settings (its own or the default)."""
    wanted = {
        f"realdata.sizes.{source}": registry.tasks(source)
        for source in registry.SOURCES
    }
    wanted["realdata.model"] = registry.TASK_NAMES
    given = {
        f"realdata.sizes.{source}": realdata["sizes"][source]
        for source in registry.SOURCES
    }
    given["realdata.model"] = realdata["model"]
    for where, tasks in wanted.items():
        missing = []
        if DEFAULT_TASK_KEY not in given[where]:
            missing = [task for task in tasks if task not in given[where]]
        unknown = [
            task
            for task in given[where]
            if task not in tasks and task != DEFAULT_TASK_KEY
        ]
        if missing or unknown:
            raise WorkflowError(
                f"{where} must give the tasks of deweight.registry ({', '.join(tasks)}) "
                f"or a {DEFAULT_TASK_KEY!r} entry for those it leaves out: "
                + "; ".join(
                    text
                    for text in (
                        missing and f"missing {', '.join(missing)}",
                        unknown and f"unknown {', '.join(unknown)}",
                    )
                    if text
                )
            )


def task_setting(settings, task):
    """A task's own entry of realdata.sizes.<source> or realdata.model, else the default."""
    return settings[task] if task in settings else settings[DEFAULT_TASK_KEY]


check_task_settings(config["realdata"])

SOURCE = config["data"]["source"]
# The one place the output folders are read: every rule names its files through
# results_file() and log_file(), so a profile (workflow/profiles/paper) can move a whole run.
RESULTS = config["output"]["results"]
LOGS = config["output"]["logs"]
SIM_VARIANTS = config["simulation"]["variants"]
SIM_SIZES = config["simulation"]["sizes"]
REAL_VARIANTS = config["realdata"]["variants"]

# What the configuration may choose, stated once, in the schema (and checked against the
# library's constants by tests/test_workflow_glue.py): the training recipes, compared in
# Figs. 6-7 recipe against recipe (fig6_recipes, fig7_recipes), and the model variants of each
# sweep, which constrain the rules' {recipe} and {variant} wildcards.
RECIPES = schema_choices(SCHEMA, "simulation.model.recipe")
SIM_VARIANT_CHOICES = schema_choices(SCHEMA, "simulation.variants")
REAL_VARIANT_CHOICES = schema_choices(SCHEMA, "realdata.variants")

# What each data source and task is (inputs, classes, labels, figure panels, the names of its
# figures and tables) lives in one table, deweight.registry; these are the views the rules use.
# A task added there gets its rules' jobs and its place in rule all with no rule edited.
SIMULATION_LABEL = registry.SIMULATION_LABEL
SIMULATION_CLASS_NAMES = list(registry.SIMULATION_CLASS_NAMES)
# The tasks of each data source.
TASKS = {source: list(registry.tasks(source)) for source in registry.SOURCES}
# Titles, captions and the data_source column of the tables.
SOURCE_LABELS = {
    source: {task: registry.spec(source, task).label for task in TASKS[source]}
    for source in registry.SOURCES
}
# Output name -> task, per kind: density figure (Figs. 4-5), overshoot figure (Figs. 8-9),
# class-count table (Tables 3-4).
DENSITY_FIGURES = registry.outputs("density_figure")
OVERSHOOT_FIGURES = registry.outputs("overshoot_figure")
RELIABILITY_FIGURES = registry.outputs("reliability_figure")
SPLIT_TABLES = registry.outputs("split_table")


wildcard_constraints:
    source="|".join(registry.SOURCES),
    variant="|".join(SIM_VARIANT_CHOICES),
    task="|".join(registry.TASK_NAMES),
    density_figure="|".join(DENSITY_FIGURES),
    overshoot_figure="|".join(OVERSHOOT_FIGURES),
    reliability_figure="|".join(RELIABILITY_FIGURES),
    split_table="|".join(SPLIT_TABLES),
    size=r"\d+",


def finished_message():
    """What the user reads when the workflow succeeds: where the results are, and the report."""
    return "\n".join(
        [
            "deweight: finished.",
            f"  results: {RESULTS}/simulation/ and {RESULTS}/{SOURCE}/ (tables/*.csv; "
            f"figures/*.pdf, *.png and the plotted numbers as *.csv); logs in {LOGS}/",
            f"  report:  snakemake --report {RESULTS}/report.html   builds the HTML report of every "
            "figure and table with its caption (add this run's --config/--configfile options)",
        ]
    )


def results_file(path):
    """A path under this run's results folder (config: output.results)."""
    return f"{RESULTS}/{path}"


def log_file(path):
    """A path under this run's log folder (config: output.logs)."""
    return f"{LOGS}/{path}"


# The archive downloads are shared by every run (a profile that moves results and logs
# reuses them), so they stay in one folder whatever output.results says.
ARCHIVE_DOWNLOADS = "resources/archive"


def archive_outputs(name):
    """The outputs of an acquisition rule: the table and its provenance record."""
    table = f"{ARCHIVE_DOWNLOADS}/{name}.parquet"
    return {"table": table, "provenance": f"{table}.provenance.json"}


def real_sizes(source, task):
    """Training-set sizes of the real-data sweep for one data source and task."""
    return task_setting(config["realdata"]["sizes"][source], task)


def all_outputs():
    """Every table and figure of the paper, for the configured data source.

    Called by rule all once every rule file is included, so it names the rules' outputs.
    """
    outputs = [
        rules.simulate_data.output.table1,
        rules.simulate_data.output.table2,
        rules.evaluate_simulation.output.pcp,
        rules.evaluate_simulation.output.verdict,
    ]
    for fig in ("fig1", "fig2", "fig3", "fig6", "fig7", "reliability_simulation"):
        outputs += list(getattr(rules, fig).output)
    outputs += expand(
        rules.class_table.output[0],
        source=SOURCE,
        split_table=registry.outputs("split_table", SOURCE),
    )
    outputs += expand(
        [
            rules.combine_real_tables.output.pcp,
            rules.combine_real_tables.output.verdict,
        ],
        source=SOURCE,
    )
    outputs += expand(
        rules.prepare_task.output.cutflow, source=SOURCE, task=TASKS[SOURCE]
    )
    outputs += expand(rules.blazar_catalog.output[0], source=SOURCE)
    for rule, kind in (
        (rules.density_figure, "density_figure"),
        (rules.overshoot_figure, "overshoot_figure"),
        (rules.reliability_figure, "reliability_figure"),
    ):
        for name in registry.outputs(kind, SOURCE):
            outputs += expand(list(rule.output), source=SOURCE, **{kind: name})
    return outputs


def task_spec(kind):
    """The registry entry of the task whose output of ``kind`` a job makes (wildcards.<kind>)."""
    names = registry.outputs(kind)
    return lambda wildcards: registry.spec(
        wildcards.source, names[getattr(wildcards, kind)]
    )


def task_output(pattern, kind):
    """An input function: ``pattern`` (a rule's output) for the task of output ``kind``."""
    names = registry.outputs(kind)
    return lambda wildcards: expand(
        pattern, source=wildcards.source, task=names[getattr(wildcards, kind)]
    )


def output_params(kind):
    """What the figure and table scripts and captions of a task's output of ``kind`` read."""
    entry = task_spec(kind)
    return dict(
        output_title=lambda wc: registry.output_title(getattr(wc, kind)),
        title=lambda wc: entry(wc).title,
        description=lambda wc: entry(wc).description,
        source_label=lambda wc: entry(wc).label,
        class_names=lambda wc: list(entry(wc).class_names),
        display_names=lambda wc: list(entry(wc).display_names),
    )


def model_params(section, task=None):
    """Keyword arguments of deweight.model.Classifier from the config.

    The device is left out: where a model trains must not make Snakemake retrain it.
    """
    model = config[section]["model"]
    if task is not None:
        model = task_setting(model, task)
    return dict(
        hidden=list(model["hidden"]),
        augmentation=model["augmentation"],
        recipe=model["recipe"],
        restarts=model["restarts"],
        max_steps=model["max_steps"],
    )


def require_archive_mode(wildcards):
    """Archive results need the acquisition rules, which exist only in archive mode."""
    if wildcards.source == "archive" and SOURCE != "archive":
        raise WorkflowError(
            f"{RESULTS}/archive/... are made from the archives: run with "
            "--config data='{source: archive}' (needs network access)"
        )


def input_file(item, source):
    """An input file: a path as it is, or the output of the rule that makes it (RuleOutput)."""
    if isinstance(item, RuleOutput):
        return expand(getattr(rules, item.rule).output[item.key], source=source)[0]
    return item.format(lac_release=config["prepare"]["lac_release"])


def lac_bundled_files():
    """The bundled 4LAC files archive.4lac reads when its source is bundled, else none."""
    lac = config["archive"]["4lac"]
    return list(lac["bundled"]["files"]) if lac["source"] == "bundled" else []


def blazar_catalog_inputs(wildcards):
    """The BZCAT and 4LAC files of the merged blazar catalogue (deweight._workflow_inputs)."""
    require_archive_mode(wildcards)
    files = BLAZAR_CATALOG_INPUTS[wildcards.source]
    inputs = {role: input_file(item, wildcards.source) for role, item in files.items()}
    if wildcards.source == "bundled" and config["prepare"]["lac_low_latitude"]:
        inputs["lac_low"] = inputs["lac"].replace("_highlat.fits", "_lowlat.fits")
    return inputs


def task_inputs(wildcards):
    """The files the preparer of a task reads: its roles (deweight.registry), each role's file
    (deweight._workflow_inputs)."""
    require_archive_mode(wildcards)
    roles = registry.spec(wildcards.source, wildcards.task).inputs
    files = task_input_files(wildcards.source, roles)
    return {role: input_file(item, wildcards.source) for role, item in files.items()}


def simulation_training_set(wildcards):
    """The biased model learns from the equal-composition set, the others from the representative one."""
    name = "biased" if wildcards.variant == "biased" else "train"
    return rules.simulate_data.output[name]


def recipe_predictions(recipe, variant, size):
    """Test-set predictions of one simulation model trained with ``recipe``.

    The configured recipe's models are the main sweep's; the other recipe's are trained by
    train_simulation_recipe.
    """
    if recipe == config["simulation"]["model"]["recipe"]:
        pattern = rules.train_simulation.output.predictions
    else:
        pattern = rules.train_simulation_recipe.output.predictions
    return expand(pattern, recipe=recipe, variant=variant, size=size)[0]


def largest_simulation_models():
    """The simulation models of the largest size, one named input per variant (model_<variant>)."""
    return {
        f"model_{variant}": expand(
            rules.train_simulation.output.model, variant=variant, size=max(SIM_SIZES)
        )[0]
        for variant in SIM_VARIANTS
    }


def clarke_pcp_input(wildcards):
    """The Clarke et al. (2020) catalogue exists only in archive mode."""
    if wildcards.source == "archive":
        return {"clarke": rules.pcp_clarke2020.output[0]}
    return {}


def clarke_catalog(wildcards):
    """The Clarke et al. (2020) catalogue, fetched by acquire_clarke2020 (archive mode only)."""
    require_archive_mode(SimpleNamespace(source="archive"))
    return rules.acquire_clarke2020.output.table


def figure_outputs(directory, name, caption, category):
    return {
        "pdf": f"{directory}/{name}.pdf",
        "png": report(
            f"{directory}/{name}.png",
            caption=f"../report/{caption}.rst",
            category=category,
        ),
        "csv": f"{directory}/{name}.csv",
    }


def table_report(path, caption, category):
    """A CSV table registered in the HTML report (snakemake --report) with its caption."""
    return report(
        path,
        caption=f"../report/{caption}.rst",
        category=category,
        subcategory="Tables",
    )


def pcp_solver(wildcards=None):
    """How prediction-consistent priors are solved (Eq. 14), without unrelated settings.

    The keys are the config's and the library's names alike (method, tol, max_iter), so the
    scripts pass them on as they are.
    """
    return {key: config["pcp"][key] for key in ("method", "tol", "max_iter")}
