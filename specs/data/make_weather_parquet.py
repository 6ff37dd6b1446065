"""Writes seattle-weather.parquet (specs/data/README.md) from seattle-weather.csv: the same
rows, `date` and `weather` as text (`weather` dictionary-encoded), the numbers as float64.

.venv/bin/python specs/data/make_weather_parquet.py
"""

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

here = Path(__file__).parent
table = pacsv.read_csv(
    here / "seattle-weather.csv",
    convert_options=pacsv.ConvertOptions(
        column_types={"date": pa.string(), "weather": pa.dictionary(pa.int32(), pa.string())}
    ),
)
pq.write_table(table, here / "seattle-weather.parquet", compression="zstd")
