"""Write wine.csv beside this file: scikit-learn's wine data (178 real wines, 13 chemical measurements) as a
table whose ``cultivar`` column names the class (class_0, class_1, class_2), as the ``table`` dataset reads it.

Run: python examples/data/make_table.py
"""

from __future__ import annotations

from pathlib import Path

from sklearn.datasets import load_wine


def main() -> Path:
    wine = load_wine(as_frame=True)
    frame = wine.frame.drop(columns="target")
    frame["cultivar"] = [str(wine.target_names[i]) for i in wine.target]
    out = Path(__file__).with_name("wine.csv")
    frame.to_csv(out, index=False, float_format="%.6g")
    return out


if __name__ == "__main__":
    print(main())
