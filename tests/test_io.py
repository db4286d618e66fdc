"""Reading study files (CSV, Excel, SPSS) and the wide layout (issue 22, item 1).

Round trips: long -> wide -> long is the identity; ``from_wide`` equals ``from_frame`` on the same
data in long form; a ``.sav`` written with pyreadstat reads back with the same values and declared
missing codes. Bad inputs are refused with messages naming the columns, rows or sheets.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alliance_bayes as ab
from alliance_bayes import AllianceData, DataValidationError
from alliance_bayes.io import long_to_wide, read_table, wide_to_long

ROLES = {"client": "patient", "clinician": "therapist"}
KEYS = ["therapist", "patient", "rater", "session"]


def long_ratings() -> pd.DataFrame:
    """Two raters, 3 therapists x 2 patients, sessions 1, 3, 12; some ratings absent."""
    rows = []
    for t in range(3):
        for p in range(2):
            patient = f"P{2 * t + p}"
            for rater in ("client", "clinician"):
                for session in (1, 3, 12):
                    if (patient, rater, session) in {("P1", "client", 12), ("P4", "clinician", 3)}:
                        continue  # no rating: an empty cell of the wide sheet
                    score = 4 + 0.1 * session + 0.3 * p + (0.5 if rater == "client" else 0) + t / 7
                    rows.append(("T0" + str(t), patient, 40 + t + p, rater, session, score))
    return pd.DataFrame(rows, columns=["therapist", "patient", "age", "rater", "session", "wai"])


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS).reset_index(drop=True)


def assert_same_data(a: AllianceData, b: AllianceData, skip: tuple[str, ...] = ("row_id",)):
    """Every field of two AllianceData equal (arrays elementwise, NaN equal to NaN)."""
    for field in dataclasses.fields(AllianceData):
        if field.name in skip:
            continue
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, ab.data.Covariates):
            for part in ("names", "values", "mean", "sd", "standardized"):
                np.testing.assert_array_equal(getattr(x, part), getattr(y, part), err_msg=part)
        elif isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=field.name)
        else:
            assert x == y, field.name


# ---------------------------------------------------------------------------- wide -> long
def test_wide_to_long_exact_rows_index_and_kept_columns():
    wide = pd.DataFrame(
        {
            "t": ["a", "b"],
            "p": ["p1", "p2"],
            "age": [30, 41],
            "wai_client_s1": [5.0, 4.0],
            "wai_client_s03": [5.5, np.nan],
            "wai_clinician_s1": [4.0, 3.5],
        },
        index=[10, 11],
    )
    long = wide_to_long(wide, "wai_{rater}_s{session}", id_columns=["t", "p"])
    assert list(long.columns) == ["t", "p", "age", "rater", "session", "alliance"]
    assert list(long.index) == [
        "10:wai_client_s1",
        "10:wai_client_s03",
        "10:wai_clinician_s1",
        "11:wai_client_s1",
        "11:wai_clinician_s1",
    ]
    assert long["session"].tolist() == [1, 3, 1, 1, 1]
    assert long["session"].dtype == np.int64
    assert long["rater"].tolist() == ["client", "client", "clinician", "client", "clinician"]
    assert long["alliance"].tolist() == [5.0, 5.5, 4.0, 4.0, 3.5]
    assert long["age"].tolist() == [30, 30, 30, 41, 41]
    kept = wide_to_long(wide, "wai_{rater}_s{session}", id_columns=["t", "p"], dropna=False)
    assert len(kept) == 6 and np.isnan(kept.loc["11:wai_client_s03", "alliance"])


def test_wide_to_long_by_mapping_and_fractional_sessions():
    wide = pd.DataFrame({"t": [1], "p": [1], "pre": [5.0], "mid": [5.2], "post": [6.0]})
    long = wide_to_long(
        wide, {"post": 20, "pre": "1", "mid": 2.5}, id_columns=["t", "p"], time="week"
    )
    assert long["week"].tolist() == [1.0, 2.5, 20.0]
    assert long["alliance"].tolist() == [5.0, 5.2, 6.0]
    by_rater = wide_to_long(
        wide, {"pre": ("client", 1), "post": ("client", 20)}, id_columns=["t", "p"]
    )
    assert by_rater["rater"].tolist() == ["client", "client"]
    assert "mid" in by_rater.columns  # not mapped: a patient-level column


def test_a_pattern_without_rater_adjacent_to_the_session():
    wide = pd.DataFrame({"t": [1], "p": [1], "client12": [5.0], "client3": [4.0]})
    long = wide_to_long(wide, "{rater}{session}", id_columns=["t", "p"])
    assert list(zip(long["rater"], long["session"], strict=True)) == [("client", 3), ("client", 12)]


# ---------------------------------------------------------------------------- round trips
def test_long_to_wide_to_long_is_the_identity_with_raters_in_the_column_names():
    long = long_ratings()
    wide = long_to_wide(
        long, "wai_{rater}_s{session}", id_columns=["therapist", "patient"], score="wai",
        time="session", rater="rater",
    )  # fmt: skip
    assert list(wide.columns) == [
        "therapist", "patient", "age", "wai_client_s1", "wai_client_s3", "wai_client_s12",
        "wai_clinician_s1", "wai_clinician_s3", "wai_clinician_s12",
    ]  # fmt: skip
    assert len(wide) == 6 and np.isnan(wide.loc[1, "wai_client_s12"])
    back = wide_to_long(
        wide, "wai_{rater}_s{session}", id_columns=["therapist", "patient"], score="wai"
    )
    pd.testing.assert_frame_equal(canonical(back), canonical(long))


def test_long_to_wide_to_long_is_the_identity_with_one_row_per_patient_and_rater():
    long = long_ratings()
    ids = ["therapist", "patient", "rater"]
    wide = long_to_wide(long, "wai{session}", id_columns=ids, score="wai", time="session")
    assert len(wide) == 12 and list(wide.columns[-3:]) == ["wai1", "wai3", "wai12"]
    back = wide_to_long(wide, "wai{session}", id_columns=ids, score="wai")
    pd.testing.assert_frame_equal(canonical(back), canonical(long)[back.columns])


def test_fractional_sessions_round_trip():
    long = pd.DataFrame({"p": ["a", "a", "b"], "week": [0.5, 2.25, 0.5], "wai": [1.0, 2.0, 3.0]})
    wide = long_to_wide(long, "w{session}", id_columns=["p"], score="wai", time="week")
    assert list(wide.columns) == ["p", "w0.5", "w2.25"]
    back = wide_to_long(wide, "w{session}", id_columns=["p"], score="wai", time="week")
    pd.testing.assert_frame_equal(back.reset_index(drop=True), long)


@settings(max_examples=25, deadline=None)
@given(
    cells=st.lists(
        st.tuples(
            st.integers(0, 4),
            st.sampled_from(["client", "clinician"]),
            st.integers(1, 40),
            st.floats(1, 7, allow_nan=False),
        ),
        min_size=1,
        max_size=30,
        unique_by=lambda c: c[:3],
    )
)
def test_long_wide_long_identity_on_random_frames(cells):
    long = pd.DataFrame(
        [(f"T{p % 2}", f"P{p}", r, s, y) for p, r, s, y in cells],
        columns=["therapist", "patient", "rater", "session", "wai"],
    )
    options = {"id_columns": ["therapist", "patient"], "score": "wai"}
    wide = long_to_wide(long, "{rater}_{session}", time="session", rater="rater", **options)
    back = wide_to_long(wide, "{rater}_{session}", **options)
    pd.testing.assert_frame_equal(canonical(back), canonical(long))


# ---------------------------------------------------------------------------- from_wide
def test_from_wide_equals_from_frame_on_the_same_data_in_long_form():
    long = long_ratings().rename(columns={"wai": "alliance"})
    wide = long_to_wide(
        long, "wai_{rater}_s{session}", id_columns=["therapist", "patient"], score="alliance",
        time="session", rater="rater",
    )  # fmt: skip
    options = {
        "therapist": "therapist",
        "patient": "patient",
        "scale": (1, 7),
        "rater_roles": ROLES,
        "patient_covariates": ["age"],
        "therapists": pd.DataFrame({"therapist": ["T00", "T01", "T02"], "burdens": [1.0, 2, 4]}),
        "therapist_covariates": ["burdens"],
        "time_coding": "linear",
    }
    from_wide = AllianceData.from_wide(wide, columns="wai_{rater}_s{session}", **options)
    from_long = AllianceData.from_frame(
        canonical(long), score="alliance", time="session", rater="rater", **options
    )
    assert_same_data(from_wide, from_long)
    assert from_wide.n_obs == 34 and from_wide.patient_covariates.names == ("age",)
    assert from_wide.row_id[0] == "0:wai_client_s1"


def test_from_wide_with_a_rater_column_equals_from_frame():
    long = long_ratings()
    ids = ["therapist", "patient", "rater"]
    wide = long_to_wide(long, "wai_s{session}", id_columns=ids, score="wai", time="session")
    data = AllianceData.from_wide(
        wide, therapist="therapist", patient="patient", rater="rater", columns="wai_s{session}",
        score="wai", rater_roles=ROLES,
    )  # fmt: skip
    expected = AllianceData.from_frame(
        long.sort_values(["therapist", "patient", "rater", "session"]), therapist="therapist",
        patient="patient", score="wai", time="session", rater="rater", rater_roles=ROLES,
    )  # fmt: skip
    assert_same_data(data, expected)


def test_from_wide_one_rater_by_mapping():
    wide = pd.DataFrame(
        {"t": ["a", "a", "b"], "p": [1, 2, 3], "pre": [5.0, 4, 6], "post": [6, 5, 6.5]}
    )
    data = AllianceData.from_wide(
        wide, therapist="t", patient="p", columns={"pre": 1, "post": 10}, time_coding="linear"
    )
    assert data.n_raters == 1 and data.n_obs == 6
    assert data.session.tolist() == [1, 10, 1, 10, 1, 10]
    assert data.score.tolist() == [5, 6, 4, 5, 6, 6.5]


def test_from_wide_problems_found_later_name_the_wide_cell():
    wide = pd.DataFrame({"t": ["a", "b"], "p": [1, 2], "s1": [5.0, "n/a"], "s2": [4.0, 4.5]})
    with pytest.raises(DataValidationError, match=r"'n/a'.*rows '1:s1'"):
        AllianceData.from_wide(wide, therapist="t", patient="p", columns="s{session}")


def test_from_wide_refuses_a_rater_column_and_raters_in_the_column_names():
    wide = pd.DataFrame({"t": ["a"], "p": [1], "who": ["client"], "wai_client_1": [5.0]})
    with pytest.raises(DataValidationError, match=r"rater='who'.*use one of the two"):
        AllianceData.from_wide(
            wide, therapist="t", patient="p", rater="who", columns="wai_{rater}_{session}"
        )


# ---------------------------------------------------------------------------- bad wide inputs
WIDE = pd.DataFrame({"t": ["a", "b"], "p": [1, 2], "wai_s1": [5.0, 4.0], "wai_s3": [5.5, 4.2]})


@pytest.mark.parametrize(
    ("frame", "columns", "message"),
    [
        (WIDE, "wai_s", r"pattern 'wai_s' has the placeholders \[\]: it needs \{session\}"),
        (WIDE, "wai_{visit}", r"placeholders \['visit'\]"),
        (WIDE, "wai_{session}_{session}", r"placeholders \['session', 'session'\]"),
        (WIDE, "cars_{session}", r"no column of the wide frame fits the pattern 'cars_\{session\}'"
         r" \(columns: 'wai_s1', 'wai_s3'\)"),
        (WIDE.assign(wai_sX=1.0, wai_s=2.0), "wai_s{session}",
         r"columns 'wai_sX' fit the pattern 'wai_s\{session\}' but their session is not a number"),
        (WIDE.assign(wai_s03=1.0), "wai_s{session}",
         r"same session twice: 'wai_s3' and 'wai_s03'"),
        (pd.DataFrame({"t": [1], "p": [1], "w_Client_1": [1.0], "w_client_1": [2.0]}),
         "w_{rater}_{session}", r"same session and rater twice: 'w_Client_1' and 'w_client_1'"),
        (WIDE, {"wai_s1": 1, "wai_s9": 9}, r"columns 'wai_s9' of the mapping are not score"),
        (WIDE, {"wai_s1": ("client", 1), "wai_s3": 3}, r"maps 'wai_s1' to \(rater, session\)"),
        (WIDE, {"wai_s1": "first"}, r"columns=\{'wai_s1': 'first'\}: map each column"),
        (WIDE, {"wai_s1": float("inf")}, r"map each column to a session"),
        (WIDE, {}, r"map at least one column"),
        (WIDE.assign(session=[1, 2]), "wai_s{session}",
         r"long frame's columns 'session' are already columns of the wide frame"),
        (pd.concat([WIDE, WIDE.iloc[[0]]], ignore_index=True), "wai_s{session}",
         r"several rows for the same t, p: \('a', 1\) \(rows 0, 2\)"),
        (pd.concat([WIDE, WIDE[["wai_s1"]]], axis=1), "wai_s{session}",
         r"wide frame repeats column names: 'wai_s1' \(2 times\)"),
        (WIDE, "wai_s{session}", None),
    ],
    ids=["no-session", "unknown", "two-sessions", "no-match", "unparsable", "s3-s03",
         "rater-case", "absent", "mixed", "text", "inf", "empty", "taken", "rows", "names",
         "fine"],
)  # fmt: skip
def test_bad_wide_inputs_are_named(frame, columns, message):
    if message is None:
        assert len(wide_to_long(frame, columns, id_columns=["t", "p"])) == 4
        return
    with pytest.raises(DataValidationError, match=message):
        wide_to_long(frame, columns, id_columns=["t", "p"])


def test_missing_id_column_and_wrong_types():
    with pytest.raises(DataValidationError, match="column 'patient' is not in the wide frame"):
        wide_to_long(WIDE, "wai_s{session}", id_columns=["t", "patient"])
    with pytest.raises(TypeError, match="a pattern such as"):
        wide_to_long(WIDE, ["wai_s1"], id_columns=["t", "p"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        wide_to_long(WIDE.to_dict(), "wai_s{session}", id_columns=["t", "p"])  # type: ignore[arg-type]


def test_bad_long_inputs_to_long_to_wide():
    long = long_ratings()
    ids = {"id_columns": ["therapist", "patient"], "score": "wai", "time": "session"}
    with pytest.raises(DataValidationError, match=r"a \{rater\} placeholder needs"):
        long_to_wide(long, "wai_{rater}_s{session}", **ids)
    with pytest.raises(DataValidationError, match="rows repeat the same"):
        long_to_wide(long, "wai_s{session}", **ids)  # two raters in one cell
    varying = long.assign(age=np.arange(len(long)))
    with pytest.raises(DataValidationError, match="columns 'age' vary within a row"):
        long_to_wide(varying, "wai_{rater}_s{session}", rater="rater", **ids)


# ---------------------------------------------------------------------------- CSV
def test_csv_ids_stay_text_and_values_are_numbers(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_bytes("\ufefftherapist,patient,session,wai\n01,7,1,5.5\n1,8,2,6\n".encode())
    frame = read_table(path, ids=["therapist", "patient", None])
    assert frame["therapist"].tolist() == ["01", "1"]
    assert frame["patient"].tolist() == ["7", "8"]
    assert frame["wai"].tolist() == [5.5, 6.0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.csv", b"", "is empty: no header row of column names"),
        ("r.csv", "t,wai\nJos\xe9,5\n".encode("latin-1"), r"not UTF-8 text \(byte 0xe9"),
        ("r.csv", b"t,wai,wai\n1,2,3\n", r"repeats column names: 'wai' \(2 times\)"),
        ("r.txt", b"t\n1\n", r"supported files are \.csv, \.xlsx, \.xlsm, \.sav, \.zsav"),
        ("r.xls", b"t\n1\n", r"old Excel workbook: save it as \.xlsx"),
        ("r.xlsx", b"not a zip", "is not a readable Excel workbook"),
        ("r.sav", b"not spss", "is not a readable SPSS file"),
    ],
    ids=["empty", "latin-1", "repeated", "suffix", "xls", "bad-xlsx", "bad-sav"],
)
def test_bad_files_are_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataValidationError, match=message):
        read_table(path)


def test_no_such_file_and_options_for_other_formats(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.csv does not exist"):
        read_table(tmp_path / "nope.csv")
    path = tmp_path / "r.csv"
    path.write_text("t\n1\n")
    with pytest.raises(DataValidationError, match=r"sheet='x'.*not an Excel workbook"):
        read_table(path, sheet="x")
    with pytest.raises(DataValidationError, match="only SPSS files"):
        read_table(path, use_labels=["t"])


# ---------------------------------------------------------------------------- Excel
def write_workbook(path, sheets):
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return path


def test_excel_reads_back_the_written_values_with_ids_as_text(tmp_path):
    frame = pd.DataFrame(
        {"therapist": ["01", 1, 2.0], "session": [1, 3, 12], "wai": [5.5, np.nan, 4.25]},
    )
    path = write_workbook(tmp_path / "r.xlsx", {"ratings": frame})
    back = read_table(path, ids=["therapist"])
    assert back["therapist"].tolist() == ["01", "1", "2"]
    assert back["session"].tolist() == [1, 3, 12]
    np.testing.assert_array_equal(back["wai"], [5.5, np.nan, 4.25])


def test_excel_sheets_are_never_guessed(tmp_path):
    one = pd.DataFrame({"t": [1], "wai": [5.0]})
    path = write_workbook(tmp_path / "r.xlsx", {"ratings": one, "therapists": one * 2})
    with pytest.raises(DataValidationError, match=r"2 sheets \('ratings', 'therapists'\)"):
        read_table(path)
    assert read_table(path, sheet="therapists")["wai"].tolist() == [10.0]
    with pytest.raises(DataValidationError, match=r"no sheet 'rating'.*Did you mean 'ratings'"):
        read_table(path, sheet="rating")


def test_excel_repeated_and_empty_headers_are_refused(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["t", "wai_s1", "wai_s1"])
    workbook.active.append([1, 2, 3])
    workbook.create_sheet("blank")
    workbook.save(tmp_path / "r.xlsx")
    with pytest.raises(DataValidationError, match=r"sheet 'Sheet' of .* 'wai_s1' \(2 times\)"):
        read_table(tmp_path / "r.xlsx", sheet="Sheet")
    with pytest.raises(DataValidationError, match=r"sheet 'blank' of .* is empty"):
        read_table(tmp_path / "r.xlsx", sheet="blank")


# ---------------------------------------------------------------------------- SPSS
def write_sav(path):
    import pyreadstat

    frame = pd.DataFrame(
        {
            "therapist": [1.0, 1.0, 2.0, 12.0],
            "patient": ["a1", "a2", "b1", "c1"],
            "informant": [1.0, 2.0, 1.0, 2.0],
            "wai_s1": [5.0, 99.0, 4.5, 6.0],
            "wai_s3": [-9.0, 5.5, -2.0, np.nan],
            "note": ["ok", "refused", "ok", "ok"],
        }
    )
    ranges = {
        "wai_s1": [99.0],
        "wai_s3": [{"lo": -9.0, "hi": -1.0}],
        "note": ["refused"],
    }
    pyreadstat.write_sav(
        frame, path, missing_ranges=ranges,
        variable_value_labels={"informant": {1.0: "client", 2.0: "clinician"}},
        column_labels={"wai_s1": "WAI-SR total, session 1"},
    )  # fmt: skip
    return frame


def test_sav_reads_back_the_values_and_the_declared_missing_codes(tmp_path):
    path = tmp_path / "study.sav"
    written = write_sav(path)
    frame = read_table(path, ids=["therapist"])
    assert frame["therapist"].tolist() == ["1", "1", "2", "12"]
    np.testing.assert_array_equal(frame["wai_s1"], [5.0, np.nan, 4.5, 6.0])
    np.testing.assert_array_equal(frame["wai_s3"], [np.nan, 5.5, np.nan, np.nan])
    assert frame["note"].tolist()[:1] == ["ok"] and pd.isna(frame["note"][1])
    assert frame["informant"].tolist() == written["informant"].tolist()
    assert frame.attrs["missing_ranges"] == {
        "wai_s1": [{"lo": 99.0, "hi": 99.0}],
        "wai_s3": [{"lo": -9.0, "hi": -1.0}],
        "note": [{"lo": "refused", "hi": "refused"}],
    }
    assert frame.attrs["user_missing"] == {
        "wai_s1": {1: 99.0},
        "wai_s3": {0: -9.0, 2: -2.0},
        "note": {1: "refused"},
    }
    assert frame.attrs["value_labels"] == {"informant": {1.0: "client", 2.0: "clinician"}}
    assert frame.attrs["column_labels"]["wai_s1"] == "WAI-SR total, session 1"


def test_sav_value_labels_replace_codes_on_request(tmp_path):
    path = tmp_path / "study.zsav"
    write_sav(path)
    frame = read_table(path, use_labels=["informant"])
    assert frame["informant"].tolist() == ["client", "clinician", "client", "clinician"]
    with pytest.raises(DataValidationError, match=r"column 'note' of .* has no value labels"):
        read_table(path, use_labels=["note"])
    with pytest.raises(DataValidationError, match="column 'who' is not in the SPSS file"):
        read_table(path, use_labels=["who"])


def test_sav_codes_without_a_label_are_refused(tmp_path):
    import pyreadstat

    path = tmp_path / "s.sav"
    frame = pd.DataFrame({"informant": [1.0, 2.0, 3.0, 3.0]})
    pyreadstat.write_sav(frame, path, variable_value_labels={"informant": {1.0: "client"}})
    with pytest.raises(DataValidationError, match=r"codes without a value label: 2\.0, 3\.0"):
        read_table(path, use_labels=["informant"])


def test_a_wide_sav_goes_to_from_wide(tmp_path):
    path = tmp_path / "study.sav"
    write_sav(path)
    frame = read_table(path, ids=["therapist", "patient"], use_labels=["informant"])
    data = AllianceData.from_wide(
        frame, therapist="therapist", patient="patient", rater="informant",
        columns="wai_s{session}", rater_roles=ROLES, scale=(1, 7),
    )  # fmt: skip
    assert data.n_obs == 4  # the declared missing codes are no ratings
    assert sorted(data.row_id) == ["0:wai_s1", "1:wai_s3", "2:wai_s1", "3:wai_s1"]
    assert list(data.therapist_labels) == ["1", "12", "2"]


@pytest.mark.parametrize(("name", "module"), [("r.sav", "pyreadstat"), ("r.xlsx", "openpyxl")])
def test_a_missing_optional_package_says_how_to_install_it(tmp_path, monkeypatch, name, module):
    path = tmp_path / name
    path.write_bytes(b"anything")
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(ImportError, match=rf"'{module}': pip install \"alliance_bayes\[io\]\""):
        read_table(path)


def test_read_table_is_exported():
    assert ab.read_table is read_table and "read_table" in ab.__all__


# ---------------------------------------------------------------------------- column labels
def test_spss_column_labels_of_the_ratings_and_the_questionnaires_become_data_labels(tmp_path):
    import pyreadstat

    from conftest import build, make_long_frame, make_therapist_frame

    ratings, questionnaires = tmp_path / "ratings.sav", tmp_path / "therapists.sav"
    pyreadstat.write_sav(
        make_long_frame(), ratings,
        column_labels={"burdens": "Personal Burdens", "wai": "WAI-SR", "patient": "Client id"},
    )  # fmt: skip
    pyreadstat.write_sav(
        make_therapist_frame(), questionnaires,
        column_labels={"satisfactions": "Personal Satisfactions", "mindfulness": ""},
    )  # fmt: skip
    frame = read_table(ratings, ids=["therapist", "patient"])
    therapists = read_table(questionnaires, ids=["therapist"])
    covariates = ["burdens", "satisfactions", "mindfulness"]
    data = build(frame, therapists=therapists, therapist_covariates=covariates)
    # the columns the data use, with a label: not the id column, not the unlabelled one
    assert data.labels == {
        "wai": "WAI-SR",
        "burdens": "Personal Burdens",
        "satisfactions": "Personal Satisfactions",
    }
    given = build(frame, therapists=therapists, therapist_covariates=covariates,
                  labels={"burdens": "DPCCQ Burdens", "session": "Session number"})  # fmt: skip
    assert given.labels["burdens"] == "DPCCQ Burdens"
    assert given.labels["session"] == "Session number"
    assert given.labels["satisfactions"] == "Personal Satisfactions"


def test_labels_must_name_a_used_column_and_be_text():
    from conftest import build, make_long_frame

    frame = make_long_frame()
    with pytest.raises(DataValidationError, match=r"labels: 'burden' not among .*'burdens'"):
        build(frame, therapist_covariates=["burdens"], labels={"burden": "Personal Burdens"})
    with pytest.raises(DataValidationError, match=r"labels: 'wai' need a non-empty text"):
        build(frame, labels={"wai": " "})
    assert build(frame).labels == {}  # a frame without attrs: no labels


def test_from_wide_keeps_the_column_labels_of_patient_covariates(tmp_path):
    import pyreadstat

    wide = pd.DataFrame(
        {
            "t": ["a", "a", "b", "b"],
            "p": ["1", "2", "3", "4"],
            "age": [30.0, 41.0, 52.0, 25.0],
            "wai_s1": [5.0, 4.0, 6.0, 5.5],
            "wai_s3": [5.5, 4.5, 6.1, 5.0],
        }
    )
    path = tmp_path / "wide.sav"
    pyreadstat.write_sav(wide, path, column_labels={"age": "Age (years)", "wai_s1": "WAI s1"})
    frame = read_table(path, ids=["t", "p"])
    data = AllianceData.from_wide(
        frame, therapist="t", patient="p", columns="wai_s{session}", patient_covariates=["age"],
        scale=(1, 7),
    )  # fmt: skip
    assert data.labels == {"age": "Age (years)"}  # a session column's label names no column used
