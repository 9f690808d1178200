"""The Great Expectations file context that stores validation results and renders Data Docs.

The context lives in `<data docs folder>/gx` and its Data Docs site in `<data docs folder>/site`, so
one setting (CSW_DATA_DOCS) places both. Open the site's index.html in a browser.
"""

from __future__ import annotations

import logging
from pathlib import Path

import great_expectations as gx
from great_expectations.data_context import FileDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig

LOGGER = logging.getLogger(__name__)

SITE_NAME = "cs_warehouse"
SITE_FOLDER = "site"
DEFAULT_SITE_NAME = "local_site"
# Validation results kept per suite in the GE store. The Data Docs index lists every stored result
# and is rebuilt after each validation, so an unbounded history would slow every run down.
MAX_RESULTS_PER_SUITE = 30


def site_index(data_docs: Path) -> Path:
    """Return the Data Docs index page under the data docs folder."""
    return data_docs / SITE_FOLDER / "index.html"


def open_context(data_docs: Path) -> FileDataContext:
    """Open (creating on first use) the file context under `data_docs`, with its Data Docs site there too."""
    data_docs.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(data_docs))
    changed = False
    sites = dict(context.variables.data_docs_sites or {})
    if DEFAULT_SITE_NAME in sites:
        del sites[DEFAULT_SITE_NAME]
        changed = True
    if SITE_NAME not in sites:
        sites[SITE_NAME] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str((data_docs / SITE_FOLDER).resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
        changed = True
    if changed:
        context.variables.data_docs_sites = sites
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
        LOGGER.info("configured the Great Expectations project in %s", data_docs)
    return context


def prune_validation_results(context: FileDataContext, suite_name: str, keep: int = MAX_RESULTS_PER_SUITE) -> int:
    """Remove all but the `keep` latest stored results of a suite; return how many were removed.

    The HTML pages of removed results stay in the site folder, but the index no longer links them.
    """
    store = context.validation_results_store
    keys = [key for key in store.list_keys() if key.expectation_suite_identifier.name == suite_name]
    keys.sort(key=lambda key: key.run_id.run_time)
    stale = keys[:-keep] if len(keys) > keep else []
    for key in stale:
        store.remove_key(key)
    if stale:
        LOGGER.info("removed %d old validation results of %s from %s", len(stale), suite_name, context.root_directory)
    return len(stale)
