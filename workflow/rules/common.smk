# Shared configuration, validation and helpers for every rule file.

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

SOURCE = config["data"]["source"]
# The one place the output folders are read: every rule names its files through
# results_file() and log_file(), so a profile (workflow/profiles/paper) can move a whole run.
RESULTS = config["output"]["results"]
LOGS = config["output"]["logs"]
SIM_VARIANTS = config["simulation"]["variants"]
SIM_SIZES = config["simulation"]["sizes"]
REAL_VARIANTS = config["realdata"]["variants"]
TASKS = ["sga", "blazar"]
BUNDLED = "resources/bundled"
ARCHIVE = "resources/archive"

# Human-readable names of the data behind each output, used in titles, captions and the
# data_source column of the tables.
SIMULATION_LABEL = "Simulation (Lake & Tsai 2022, Sect. 3.2)"
SOURCE_LABELS = {
    "bundled": {
        "sga": "SDSS DR14 optical sample (bundled offline stand-in, not the paper's WISE data)",
        "blazar": (
            "SDSS DR14 optical sample + Roma-BZCAT 5 blazars: two samples "
            "(bundled offline stand-in, not the paper's WISE data)"
        ),
    },
    "archive": {
        "sga": "SDSS DR16 x AllWISE x 2MASS (archive data, as in the paper)",
        "blazar": "SDSS DR16 x AllWISE + Roma-BZCAT 5 + 4LAC (archive data, as in the paper)",
    },
}

# Class names of the two real-data tasks, in label order.
TASK_CLASSES = {
    "bundled": {
        "sga": ["galaxy", "star", "qso"],
        "blazar": ["galaxy", "star", "qso", "bll", "fsrq"],
    },
    "archive": {
        "sga": ["galaxy", "star", "agn"],
        "blazar": ["galaxy", "star", "agn", "bll", "fsrq"],
    },
}


wildcard_constraints:
    source="bundled|archive",
    variant="base|weighted|biased",
    task="sga|blazar",
    size=r"\d+",


def results_file(path):
    """A path under this run's results folder (config: output.results)."""
    return f"{RESULTS}/{path}"


def log_file(path):
    """A path under this run's log folder (config: output.logs)."""
    return f"{LOGS}/{path}"


def real_sizes(source, task):
    """Training-set sizes of the real-data sweep for one data source and task."""
    return lookup(dpath=f"realdata/sizes/{source}/{task}", within=config)


def figure_files(directory, name):
    """The PDF and PNG of a figure and the CSV of the numbers it plots."""
    return [f"{directory}/{name}.{ext}" for ext in ("pdf", "png", "csv")]


def all_outputs():
    """Every table and figure of the paper, for the configured data source."""
    sim = results_file("simulation")
    real = results_file(SOURCE)
    outputs = [f"{sim}/tables/{name}.csv" for name in ("table1", "table2", "pcp")]
    for fig in ("fig1", "fig2", "fig3", "fig6", "fig7"):
        outputs += figure_files(f"{sim}/figures", fig)
    outputs += [
        f"{real}/tables/{name}.csv"
        for name in (
            "table3",
            "table4",
            "pcp",
            "bias_verdict",
            "cutflow_sga",
            "cutflow_blazar",
        )
    ]
    outputs.append(f"{real}/catalogs/blazars.parquet")
    for fig in ("fig4", "fig5", "fig8", "fig9"):
        outputs += figure_files(f"{real}/figures", fig)
    return outputs


def model_params(section, task=None):
    """Keyword arguments of deweight.model.Classifier from the config.

    The device is left out: where a model trains must not make Snakemake retrain it.
    """
    model = config[section]["model"] if task is None else config[section]["model"][task]
    return dict(
        hidden=list(model["hidden"]),
        augmentation=model["augmentation"],
        recipe=model["recipe"],
        restarts=model["restarts"],
        max_steps=model["max_steps"],
    )


def lac_file(release):
    """The bundled 4LAC table of a release (high Galactic latitude, as the paper uses)."""
    return f"{BUNDLED}/4lac_{release}_highlat.fits"


def require_archive_mode(wildcards):
    """Archive results need the acquisition rules, which exist only in archive mode."""
    if wildcards.source == "archive" and SOURCE != "archive":
        raise WorkflowError(
            f"{RESULTS}/archive/... are made from the archives: run with "
            "--config data='{source: archive}' (needs network access)"
        )


def blazar_catalog_inputs(wildcards):
    require_archive_mode(wildcards)
    if wildcards.source == "bundled":
        return {
            "bzcat": f"{BUNDLED}/bzcat5_with_photometry.csv",
            "lac": lac_file(config["prepare"]["lac_release"]),
        }
    return {"bzcat": f"{ARCHIVE}/bzcat5.parquet", "lac": f"{ARCHIVE}/4lac.parquet"}


def task_inputs(wildcards):
    require_archive_mode(wildcards)
    if wildcards.source == "bundled":
        inputs = {"sdss": f"{BUNDLED}/sdss_dr14_specphoto_sample_10k.csv"}
        if wildcards.task == "blazar":
            inputs["bzcat"] = f"{BUNDLED}/bzcat5_with_photometry.csv"
            inputs["blazars"] = results_file("bundled/catalogs/blazars.parquet")
        return inputs
    inputs = {
        "spec": f"{ARCHIVE}/sdss_specobj.parquet",
        "wise": f"{ARCHIVE}/allwise.parquet",
    }
    if wildcards.task == "sga":
        inputs["twomass"] = f"{ARCHIVE}/sdss_twomass.parquet"
    else:
        inputs["photo"] = f"{ARCHIVE}/sdss_photoobj.parquet"
        inputs["blazars"] = results_file("archive/catalogs/blazars.parquet")
    return inputs


def simulation_training_set(wildcards):
    """The biased model learns from the equal-composition set, the others from the representative one."""
    name = "biased" if wildcards.variant == "biased" else "train"
    return results_file(f"simulation/data/{name}.parquet")


# The training recipes compared in Figs. 6-7 recipe against recipe (fig6_recipes, fig7_recipes).
RECIPES = ["fast", "paper"]


def recipe_predictions(recipe, variant, size):
    """Test-set predictions of one simulation model trained with ``recipe``.

    The configured recipe's models are the main sweep's; the other recipe's are trained by
    train_simulation_recipe.
    """
    if recipe == config["simulation"]["model"]["recipe"]:
        return results_file(f"simulation/predictions/{variant}/n{size}.parquet")
    return results_file(
        f"simulation/recipes/{recipe}/predictions/{variant}/n{size}.parquet"
    )


def clarke_pcp_input(wildcards):
    """The Clarke et al. (2020) catalogue exists only in archive mode."""
    if wildcards.source == "archive":
        return {"clarke": results_file("archive/tables/pcp_clarke2020.csv")}
    return {}


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


def pcp_solver(wildcards=None):
    """How prediction-consistent priors are solved (Eq. 14), without unrelated settings."""
    return {key: config["pcp"][key] for key in ("method", "tol", "max_iter")}
