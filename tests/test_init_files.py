"""`rnndyn init` outputs never lie: distinct files per group, clear refusals and exit codes."""

from __future__ import annotations

import json

import pytest
import torch
from io_factories import rnndyn_checkpoint
from torch import nn
from typer.testing import CliRunner

from rnndyn.errors import OutputError, UsageError
from rnndyn.init.files import check_destination, group_paths, is_law_file, write_laws
from rnndyn.init.law import EigenInitParams
from rnndyn_cli.app import app


@pytest.fixture
def runner():
    return CliRunner()


def nets(tmp_path, kinds, arch="gru", hidden=4):
    paths = []
    for i, kind in enumerate(kinds):
        torch.manual_seed(i)
        module = {"gru": nn.GRU, "rnn": nn.RNN}[arch](2, hidden)
        p = tmp_path / f"net{i}.pt"
        meta = {"arch": arch, "hidden_size": hidden}
        if kind is not None:
            meta["task"] = kind
        torch.save(rnndyn_checkpoint(module.state_dict(), **meta), p)
        paths.append(p)
    return paths


def test_group_paths_keep_plain_names_and_hash_the_rest(tmp_path):
    out = tmp_path / "law.json"
    paths = group_paths(out, ["regression", "a/b", "a_b", "A B", "x" * 300, ".."])
    assert paths["regression"] == tmp_path / "law.regression.json"  # plain names unchanged
    assert paths["a_b"].name == "law.a_b.json"
    assert paths["a/b"].name.startswith("law.a_b-") and paths["a/b"] != paths["a_b"]
    assert len({p.name for p in paths.values()}) == 6
    assert all(len(p.name) <= 100 and p.parent == tmp_path for p in paths.values())
    assert group_paths(out, ["a/b"]) == {"a/b": paths["a/b"]}  # deterministic
    with pytest.raises(UsageError, match="would both be written"):
        group_paths(out, ["Regression", "regression"])  # one file on case-insensitive disks


def test_check_destination_refuses_folders_inputs_long_names_and_foreign_files(tmp_path):
    law = EigenInitParams.orthogonal().save(tmp_path / "law.json")
    mine = {"force": True, "ours": is_law_file, "what": "law file"}
    assert check_destination(law, **mine) == law  # ours + force: may replace
    for bad, match in [
        (tmp_path, "is a folder"),
        (tmp_path / ("n" * 300 + ".json"), "file systems allow 255"),
    ]:
        with pytest.raises(OutputError, match=match) as err:
            check_destination(bad, **mine)
        assert err.value.exit_code == 5
    with pytest.raises(OutputError, match="one of the inputs"):
        check_destination(law, inputs=[str(law)], **mine)
    with pytest.raises(OutputError, match="already exists"):
        check_destination(law, force=False, ours=is_law_file, what="law file")
    (tmp_path / "notes.json").write_text('{"mine": 1}')
    with pytest.raises(OutputError, match="not a law file rnndyn wrote"):
        check_destination(tmp_path / "notes.json", **mine)


def test_write_laws_checks_every_destination_before_writing(tmp_path):
    (tmp_path / "law.b.json").write_text("precious")
    dests = {"a": tmp_path / "law.a.json", "b": tmp_path / "law.b.json"}
    law = EigenInitParams.orthogonal()
    with pytest.raises(OutputError):
        write_laws({"a": law, "b": law}, dests, force=True)
    assert not dests["a"].exists() and dests["b"].read_text() == "precious"


def test_fit_by_task_a_slash_b_and_a_underscore_b_write_two_files(runner, tmp_path):
    paths = nets(tmp_path, ["a/b", "a/b", "a_b", "a_b"])
    out = tmp_path / "law.json"
    res = runner.invoke(app, ["init", "fit", *map(str, paths), "--by", "task", "-o", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["init", "fit", *map(str, paths), "--by", "task", "-o", str(out), "--json", "--force"]
    )
    files = {f["group"]: f["path"] for f in json.loads(res.stdout)["files"]}
    assert set(files) == {"a/b", "a_b"} and files["a/b"] != files["a_b"]
    for group, path in files.items():
        law = EigenInitParams.load(path)
        assert law.provenance["group"] == group and law.provenance["n_checkpoints"] == 2
    written = sorted(p.name for p in tmp_path.glob("law.*.json"))
    assert len(written) == 2 and "law.a_b.json" in written


def test_fit_with_a_300_character_group_name_writes_a_short_file_name(runner, tmp_path):
    long = "t" * 300
    paths = nets(tmp_path, [long, long])
    res = runner.invoke(
        app, ["init", "fit", *map(str, paths), "--by", "task", "-o", str(tmp_path / "law.json")]
    )
    assert res.exit_code == 0, res.output
    (written,) = tmp_path.glob("law.*.json")
    assert len(written.name) < 100 and EigenInitParams.load(written).provenance["group"] == long


def test_fit_to_a_name_too_long_is_an_output_error(runner, tmp_path):
    paths = nets(tmp_path, ["x"])
    res = runner.invoke(
        app, ["init", "fit", str(paths[0]), "-o", str(tmp_path / ("n" * 300 + ".json"))]
    )
    assert res.exit_code == 5 and "255" in res.stderr and res.stdout == ""


def test_missing_by_key_is_a_usage_error_as_in_compare(runner, tmp_path):
    paths = nets(tmp_path, ["x", None])
    out = tmp_path / "law.json"
    res = runner.invoke(app, ["init", "fit", *map(str, paths), "--by", "task", "-o", str(out)])
    assert res.exit_code == 2 and "'task'" in res.stderr and str(paths[1]) in res.stderr
    cmp = runner.invoke(app, ["compare", *map(str, paths), "--by", "task"])
    assert cmp.exit_code == res.exit_code  # one mistake, one exit code
    assert not list(tmp_path.glob("law*.json"))


@pytest.mark.parametrize(
    "seed",
    ["99999999999999999999999", "-1", str(2**63), "abc"],
    ids=["huge", "neg", "2^63", "text"],
)
def test_sample_and_fit_refuse_bad_seeds_with_exit_2(runner, tmp_path, seed):
    law = EigenInitParams.orthogonal().save(tmp_path / "o.json")
    res = runner.invoke(app, ["init", "sample", str(law), "--n", "4", "--seed", seed])
    assert res.exit_code == 2 and res.stdout == "" and "Traceback" not in res.output
    paths = nets(tmp_path, ["x"])
    res = runner.invoke(
        app, ["init", "fit", str(paths[0]), "-o", str(tmp_path / "l.json"), "--seed", seed]
    )
    assert res.exit_code == 2 and not (tmp_path / "l.json").exists()


def test_largest_seed_round_trips_through_the_law_file(runner, tmp_path):
    paths = nets(tmp_path, ["x"])
    out = tmp_path / "l.json"
    seed = str(2**63 - 1)
    res = runner.invoke(app, ["init", "fit", str(paths[0]), "-o", str(out), "--seed", seed])
    assert res.exit_code == 0, res.output
    assert EigenInitParams.load(out).provenance["seed"] == 2**63 - 1
    res = runner.invoke(app, ["init", "sample", str(out), "--n", "3", "--seed", seed, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["seed"] == 2**63 - 1


def test_law_table_reports_goodness_with_n_and_sample_targets_follow_pytorch_order(tmp_path):
    from rnndyn.init.fit import EigenInitFitter
    from rnndyn.init.summary import law_table, sample_blocks, sample_targets

    f = EigenInitFitter().fit([str(p) for p in nets(tmp_path, ["x", "x"], hidden=6)])
    rows = {r["target"]: r for r in law_table(f.params_)}
    assert list(rows) == ["r", "z", "n"]
    for t, row in rows.items():
        d = f.params_.diagnostics[t]
        assert (
            row["ks_radius"] == d["radius"]["ks_statistic"] and row["n_radius"] == d["radius"]["n"]
        )
    assert sample_targets(f.params_) == ("r", "z", "n") and sample_targets(f.params_, "z") == ("z",)
    assert sample_targets(EigenInitParams.orthogonal()) == ("*",)
    blocks = sample_blocks(f.params_, 5, seed=2)
    assert [b.target for b in blocks] == ["r", "z", "n"] and blocks[0].matrix.shape == (5, 5)
    with pytest.raises(UsageError, match="--seed"):
        sample_blocks(f.params_, 5, seed=-1)
