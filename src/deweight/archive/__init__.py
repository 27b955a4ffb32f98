"""Archive acquisition for the paper's data (Lake & Tsai 2022, §3.3-3.5).

Downloads SDSS DR16 SpecObj/PhotoObj/TwoMass (SkyServer SQL or TAP), AllWISE
(IRSA TAP with upload), Roma-BZCAT 5 (VizieR), 4LAC (the Fermi-LAT FITS files, or
VizieR) and the Clarke et al.
(2020) catalogue (Zenodo) into Parquet files, each with a provenance sidecar.
Every entry point first probes its service so that a machine without network
fails within seconds with a message naming the service.
"""

from .errors import (
    ArchiveError,
    ArchiveResponseError,
    ChecksumMismatchError,
    RowCountMismatchError,
    ServiceUnreachableError,
    TapJobFailedError,
    TapJobTimeoutError,
    TransientServiceError,
    TruncatedResultError,
)
from .files import ChunkStore, Provenance, provenance_path_for
from .irsa import AllwiseSpec, acquire_allwise, build_allwise_adql, nearest_matches
from .lac import FERMI_SERVICE, LAC_OUTPUT_COLUMNS, acquire_4lac, fermi_file_urls
from .network import NetworkSettings, call_with_retries, probe_service
from .sdss import (
    SdssTableSpec,
    SpecObjIdRange,
    acquire_sdss_table,
    build_chunk_query,
    parse_skyserver_csv,
    plan_specobjid_ranges,
)
from .tap import run_async_query
from .vizier import (
    FOUR_LAC_RELEASES,
    VizierTableSpec,
    acquire_vizier_table,
    fetch_vizier_table,
    resolve_4lac_spec,
)
from .zenodo import (
    acquire_clarke2020,
    convert_catalogue_to_parquet,
    download_with_resume,
    fetch_zenodo_record,
    select_record_files,
)

__all__ = [
    "FERMI_SERVICE",
    "FOUR_LAC_RELEASES",
    "LAC_OUTPUT_COLUMNS",
    "AllwiseSpec",
    "ArchiveError",
    "ArchiveResponseError",
    "ChecksumMismatchError",
    "ChunkStore",
    "NetworkSettings",
    "Provenance",
    "RowCountMismatchError",
    "SdssTableSpec",
    "ServiceUnreachableError",
    "SpecObjIdRange",
    "TapJobFailedError",
    "TapJobTimeoutError",
    "TransientServiceError",
    "TruncatedResultError",
    "VizierTableSpec",
    "acquire_4lac",
    "acquire_allwise",
    "acquire_clarke2020",
    "acquire_sdss_table",
    "acquire_vizier_table",
    "build_allwise_adql",
    "build_chunk_query",
    "call_with_retries",
    "convert_catalogue_to_parquet",
    "download_with_resume",
    "fermi_file_urls",
    "fetch_vizier_table",
    "fetch_zenodo_record",
    "nearest_matches",
    "parse_skyserver_csv",
    "plan_specobjid_ranges",
    "probe_service",
    "provenance_path_for",
    "resolve_4lac_spec",
    "run_async_query",
    "select_record_files",
]
