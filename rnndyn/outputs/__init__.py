"""Writing output folders: staged publication, the manifest, tables and figure files."""
