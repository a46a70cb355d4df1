"""Writing output folders: staged publication, the manifest, tables and figure files."""

__all__: list[str] = []  # used by the CLI and the report writer; no public API of its own


def __dir__() -> list[str]:
    return []
