"""Data contracts: the columnar tables of the mall, their schemas and validated I/O.

Every table Shelfrank reads or writes is declared once in :mod:`ranking.contracts.tables`
(column name, Arrow type, nullability, allowed values, one-line meaning) and read through
:func:`read_table`, which refuses a missing or mistyped column with an error that names
the file and the column.
"""

from ranking.contracts.io import (
    ContractError,
    dataset_tables,
    read_table,
    table_path,
    validate_dataset,
    write_table,
)
from ranking.contracts.tables import (
    CATALOG_TABLES,
    CREATOR_TABLES,
    EVENT_TABLES,
    PEOPLE_TABLES,
    TABLES,
    Column,
    TableContract,
)

__all__ = [
    "CATALOG_TABLES",
    "CREATOR_TABLES",
    "EVENT_TABLES",
    "PEOPLE_TABLES",
    "TABLES",
    "Column",
    "ContractError",
    "TableContract",
    "dataset_tables",
    "read_table",
    "table_path",
    "validate_dataset",
    "write_table",
]
