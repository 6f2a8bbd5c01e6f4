"""One table, before and after each quality feature, from the reports `make eval` leaves in eval/results/.

Each row is a feature, the figure it moves, the figure without it (a baseline measured in the same run), the
figure with it, and the command that reproduces both. A report that is missing leaves its rows out.

    python -m eval.summary      # the last step of `make eval`; writes eval/results/SUMMARY.md
"""

import json
from dataclasses import dataclass
from pathlib import Path

from eval.reports import RESULTS


@dataclass
class Row:
    feature: str
    figure: str
    before: str
    after: str
    change: str
    command: str


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _ratio(after: float, before: float) -> str:
    return f"{after / before:.2f}x" if before else "n/a"


def _points(after: float, before: float) -> str:
    return f"{(after - before) * 100:+.1f} pts"


def retrieval_rows(report: dict) -> list[Row]:
    configs = report["configs"]
    command = "python -m eval.retrieval --split test"
    sparse, dense, hybrid = configs["sparse"], configs["dense"], configs["hybrid"]
    best = max((sparse, dense), key=lambda row: row["ndcg@10"])
    part = "sparse" if best is sparse else "dense"
    rows = [
        Row(
            "hybrid retrieval (dense + sparse, fused in Qdrant)",
            f"nDCG@10, SciFact test ({report['queries']} claims)",
            f"{best['ndcg@10']:.4f} ({part} alone, the better part)",
            f"{hybrid['ndcg@10']:.4f}",
            _ratio(hybrid["ndcg@10"], best["ndcg@10"]),
            command,
        ),
        Row(
            "hybrid retrieval",
            "Recall@100",
            f"{max(sparse['recall@100'], dense['recall@100']):.4f} (better part)",
            f"{hybrid['recall@100']:.4f}",
            _ratio(hybrid["recall@100"], max(sparse["recall@100"], dense["recall@100"])),
            command,
        ),
        Row(
            "hybrid retrieval",
            "p50 latency through the gateway",
            f"{best['p50_ms']} ms ({part})",
            f"{hybrid['p50_ms']} ms",
            _ratio(hybrid["p50_ms"], best["p50_ms"]),
            command,
        ),
    ]
    if "hybrid+mmr" in configs:
        mmr = configs["hybrid+mmr"]
        rows.append(
            Row(
                "MMR diversity re-ranking (opt-in)",
                "nDCG@10",
                f"{hybrid['ndcg@10']:.4f} (hybrid)",
                f"{mmr['ndcg@10']:.4f}",
                _ratio(mmr["ndcg@10"], hybrid["ndcg@10"]),
                command,
            )
        )
    if "hybrid-tuned" in configs:
        tuned = configs["hybrid-tuned"]
        rows.append(
            Row(
                "fusion weights tuned on train",
                "nDCG@10",
                f"{hybrid['ndcg@10']:.4f} (defaults)",
                f"{tuned['ndcg@10']:.4f}",
                _ratio(tuned["ndcg@10"], hybrid["ndcg@10"]),
                "python -m eval.retrieval --split test --tune",
            )
        )
    return rows


def parents_rows(report: dict) -> list[Row]:
    chunk, section = report["modes"]["chunk"], report["modes"]["section"]
    command = "python -m eval.parents"
    return [
        Row(
            "parent-document retrieval",
            f"gold evidence sentences in the context (test, {report['claims']} claims)",
            f"{_pct(chunk['gold_shown'])} (hit chunks)",
            _pct(section["gold_shown"]),
            _points(section["gold_shown"], chunk["gold_shown"]),
            command,
        ),
        Row(
            "parent-document retrieval",
            "median context tokens",
            f"{chunk['median_context_tokens']} (hit chunks)",
            f"{section['median_context_tokens']}",
            _ratio(section["median_context_tokens"], chunk["median_context_tokens"]),
            command,
        ),
    ]


def compression_rows(report: dict) -> list[Row]:
    test = report["test"]
    setting = "/".join(str(x) for x in report["chosen"])
    command = "python -m eval.compression"
    rows = [
        Row(
            f"contextual compression ({setting}, tuned on train)",
            f"context tokens saved (test, {report['test_claims']} claims)",
            "0% (uncompressed)",
            _pct(test["tokens_saved"]),
            _points(test["tokens_saved"], 0.0),
            command,
        ),
        Row(
            "contextual compression",
            "gold evidence sentences kept",
            "100% (uncompressed)",
            f"{_pct(test['gold_kept'])} of {test['gold_sentences']}",
            _points(test["gold_kept"], 1.0),
            command,
        ),
    ]
    extractor = report.get("llm_extractor")
    if extractor:
        similarity, llm = extractor["similarity"], extractor["llm"]
        rows.append(
            Row(
                "compression: LLM extractor (the suite's generator)",
                f"tokens saved / gold sentences kept (first {extractor['claims']} test claims)",
                f"{_pct(similarity['tokens_saved'])} / {_pct(similarity['gold_kept'])} (similarity)",
                f"{_pct(llm['tokens_saved'])} / {_pct(llm['gold_kept'])}",
                f"{llm['fell_back']} fallbacks, p50 {llm['llm_p50_ms']:.0f} ms",
                command,
            )
        )
    return rows


def self_query_rows(report: dict) -> list[Row]:
    by = {(row["set"], row["method"]): row for row in report["sets"]}
    rows = []
    for name in ("development", "held-out"):
        parser, llm = by.get((name, "parser")), by.get((name, "parser+llm"))
        if not parser or not llm:
            continue
        rows.append(
            Row(
                "self-query: LLM after the parser",
                f"questions fully right ({name}, {parser['questions']})",
                f"{_pct(parser['accuracy'])} (parser alone)",
                _pct(llm["accuracy"]),
                _points(llm["accuracy"], parser["accuracy"]),
                "python -m eval.self_query",
            )
        )
    invalid = sum(row["applied_filters_breaking_schema"] + row["refused_searches"] for row in report["sets"])
    rows.append(
        Row(
            "self-query",
            "invalid filters reaching Qdrant (all runs)",
            "",
            str(invalid),
            "",
            "python -m eval.self_query",
        )
    )
    return rows


def no_context_rows(report: dict) -> list[Row]:
    flag = report["gateway_flag_on_test"]
    command = "python -m eval.no_context"
    rows = []
    if "gateway_flag_off_topic" in report:
        off = report["gateway_flag_off_topic"]
        rows.append(
            Row(
                "no-context detection (gateway default)",
                f"off-topic questions flagged ({report['off_topic']}) / test claims with evidence wrongly flagged",
                "",
                f"{_pct(off['off_topic_flagged'])} / {_pct(off['test_with_evidence_flagged'])}",
                "",
                command,
            )
        )
    rows.append(
        Row(
            "no-context detection (gateway default)",
            f"recall / precision with the claim's evidence removed (test, {report['test']} asks)",
            "",
            f"{_pct(flag['recall'])} / {_pct(flag['precision'])}",
            "",
            command,
        )
    )
    for signal in ("best_passage", "best_sentence", "term_coverage"):
        if signal in report:
            test = report[signal]["test"]
            rows.append(
                Row(
                    f"no-context: {signal.replace('_', ' ')} threshold from train",
                    "recall / precision with the evidence removed (test)",
                    f"{_pct(flag['recall'])} / {_pct(flag['precision'])} (gateway default)",
                    f"{_pct(test['recall'])} / {_pct(test['precision'])} (threshold {test['threshold']})",
                    f"AUC {report[signal]['auc_test']:.3f}",
                    command,
                )
            )
    return rows


def verdict_rows(report: dict) -> list[Row]:
    verdicts, majority = report["verdicts"], report["baseline_majority"]
    cited, top = report["citations"], report["baseline_retrieval_top1_citations"]
    command = f"python -m eval.verdicts --limit {report['claims']}"
    model = report["model"]
    return [
        Row(
            f"claim verification /v1/verify ({model})",
            f"verdict accuracy ({report['claims']} claims)",
            f"{_pct(majority['accuracy'])} (always {majority['label']})",
            _pct(verdicts["accuracy"]),
            _ratio(verdicts["accuracy"], majority["accuracy"]),
            command,
        ),
        Row(
            "claim verification",
            "verdict macro-F1",
            f"{majority['macro_f1']:.3f} (always {majority['label']})",
            f"{verdicts['macro_f1']:.3f}",
            _ratio(verdicts["macro_f1"], majority["macro_f1"]),
            command,
        ),
        Row(
            "claim verification",
            "citation precision (cited documents that are gold evidence)",
            f"{_pct(top['precision'])} (retrieval's top passage)",
            _pct(cited["precision"]),
            _ratio(cited["precision"], top["precision"]),
            command,
        ),
    ]


def learning_rows(report: dict) -> list[Row]:
    """The adapter the gateway trained from the train claims' labels, through the suite, on the test claims."""
    rows = []
    for mode in ("hybrid", "dense"):
        before, after = report["before"][mode], report["after"][mode]
        rows.append(
            Row(
                f"learning loop: adapter from verified labels ({report['adapter']['status']})",
                f"{mode} nDCG@10 / Recall@100 (test)",
                f"{before['ndcg@10']:.4f} / {before['recall@100']:.3f}",
                f"{after['ndcg@10']:.4f} / {after['recall@100']:.3f}",
                _points(after["ndcg@10"], before["ndcg@10"]),
                "python -m eval.learning",
            )
        )
    return rows


def golden_rows(recorded: dict) -> list[Row]:
    return [
        Row(
            "golden subset in make test",
            f"nDCG@10 on {recorded['queries']} claims / {recorded['documents']} abstracts (fails below)",
            "",
            f"{recorded['ndcg@10']:.4f} (fails under {recorded['ndcg@10'] * (1 - recorded['tolerance']):.4f})",
            "",
            "pytest tests/eval",
        )
    ]


SOURCES = [
    ("retrieval-test.json", retrieval_rows),
    ("parents.json", parents_rows),
    ("compression.json", compression_rows),
    ("self-query.json", self_query_rows),
    ("no-context.json", no_context_rows),
    ("verdicts-local-gemma.json", verdict_rows),
    ("learning.json", learning_rows),
]


def collect(results: Path = RESULTS, golden: Path | None = None) -> list[Row]:
    rows: list[Row] = []
    for name, build in SOURCES:
        path = results / name
        if path.exists():
            rows.extend(build(json.loads(path.read_text())))
    golden = golden or results.parent / "golden.json"
    if golden.exists():
        rows.extend(golden_rows(json.loads(golden.read_text())))
    return rows


def markdown(rows: list[Row]) -> str:
    lines = [
        "# Quality, before and after each feature — SciFact and the labelled self-query set",
        "",
        "Written by `python -m eval.summary` from the reports beside it; every figure was measured through the",
        "real suite on this repository's 2-core reference machine, the baseline in the same run as the feature.",
        "",
        "| feature | figure | before | after | change | reproduce |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.feature} | {r.figure} | {r.before} | {r.after} | {r.change} | `{r.command}` |" for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = markdown(collect())
    (RESULTS / "SUMMARY.md").write_text(text)
    print(text)
