"""How well the model knows when it doesn't know, on Banking77 with unseen categories.

    python bench/abstention.py [--data ../shared/data/banking77/train.csv] [--unseen 10] [--seeds 3]
    python bench/abstention.py --encoder minilm-int8   # the optional encoder stack

For each seed: hide `--unseen` random categories entirely (out-of-taxonomy tickets);
split the rest 60/20/20 (stratified) into train, validation and test; fit the default
pipeline on train; pick the abstention thresholds on validation with the product's
own rule (`triage.ml.abstention.abstention_thresholds`, target precision 95 %); then report,
on the test tickets, the accuracy on the answered ones and the share answered, and, on
every unseen-category ticket, the share caught (abstained on). The answered accuracy of
a mixed stream depends on how many tickets are new: it is printed for the data's own mix
(the test split plus the same 20 % of the unseen categories' tickets: about 1 in 8 new)
and for the test split plus all of them (about 4 in 10).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")
os.environ.setdefault("ASSIST_LOCAL_DEV", "1")  # a development machine: the development keys are fine

import django

django.setup()

from sklearn.model_selection import train_test_split  # noqa: E402

from triage.ml.abstention import PRECISION_BOUND_Z, abstain_reason, abstention_thresholds  # noqa: E402
from triage.ml.encoder import ENCODERS  # noqa: E402
from triage.ml.pipeline import build_pipeline  # noqa: E402
from triage.ml.suggest import Suggester, Suggestion  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "banking77" / "train.csv"


def run(
    texts: list[str], labels: list[str], unseen_count: int, seed: int, target: float, z: float, params: dict[str, Any]
) -> dict[str, float]:
    rng = random.Random(seed)
    unseen = set(rng.sample(sorted(set(labels)), unseen_count))
    known = [(t, y) for t, y in zip(texts, labels, strict=True) if y not in unseen]
    outside = [t for t, y in zip(texts, labels, strict=True) if y in unseen]
    k_texts, k_labels = zip(*known, strict=True)
    x_train, x_rest, y_train, y_rest = train_test_split(
        list(k_texts), list(k_labels), test_size=0.4, stratify=k_labels, random_state=seed
    )
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=seed)
    suggester = Suggester(build_pipeline(params).fit([("", t) for t in x_train], y_train))
    limits = abstention_thresholds(suggester.suggest_many([("", t) for t in x_val]), y_val, target, z)

    def answered(s: Suggestion) -> bool:
        return not abstain_reason(s, limits)  # the product's rule

    test = suggester.suggest_many([("", t) for t in x_test])
    ood = suggester.suggest_many([("", t) for t in outside])
    answered_test = [(s, y) for s, y in zip(test, y_test, strict=True) if answered(s)]
    right = sum(s.label == y for s, y in answered_test)
    ood_answered = [answered(s) for s in ood]
    ood_novel = [abstain_reason(s, limits) == "novel" for s in ood]
    # The data's own mix: the same share of the unseen categories' tickets as of the known ones.
    in_mix = set(random.Random(seed).sample(range(len(outside)), round(len(outside) * 0.2)))
    mix_answered = sum(a for i, a in enumerate(ood_answered) if i in in_mix)

    def share_right(wrong_answers: int) -> float:
        # Answering an unseen-category ticket is always wrong.
        return right / (len(answered_test) + wrong_answers) if answered_test or wrong_answers else 0.0

    return {
        "accuracy_all_known": sum(s.label == y for s, y in zip(test, y_test, strict=True)) / len(y_test),
        "answered_accuracy_mix": share_right(mix_answered),
        "answered_accuracy_heavy": share_right(sum(ood_answered)),
        "answered_accuracy_known": right / max(len(answered_test), 1),
        "answered_share_known": len(answered_test) / len(y_test),
        "unknown_recall": 1 - sum(ood_answered) / len(outside),
        "unknown_novel": sum(ood_novel) / len(outside),
        "min_confidence": limits["min_confidence"],
        "min_similarity": limits.get("min_similarity", float("nan")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--unseen", type=int, default=10, help="categories hidden from training")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.95, help="target precision for the thresholds")
    parser.add_argument(
        "--z", type=float, default=PRECISION_BOUND_Z, help="Wilson bound of the precision (0: the observed precision)"
    )
    parser.add_argument("--encoder", choices=sorted(ENCODERS), help="add the sentence-encoder block (weight 2)")
    args = parser.parse_args()
    params: dict[str, Any] = {"encoder": args.encoder, "encoder_weight": 2.0} if args.encoder else {}
    with args.data.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    texts, labels = [r["text"] for r in rows], [r["category"] for r in rows]
    results = []
    for seed in range(args.seeds):
        r = run(texts, labels, args.unseen, seed, args.target, args.z, params)
        results.append(r)
        print(
            f"seed {seed}: accuracy on all known {r['accuracy_all_known']:.3f}, "
            f"answered accuracy {r['answered_accuracy_known']:.3f} on known, {r['answered_accuracy_mix']:.3f} in "
            f"the data's mix, {r['answered_accuracy_heavy']:.3f} with all unseen, "
            f"known answered {r['answered_share_known']:.3f}, "
            f"unseen caught {r['unknown_recall']:.3f}, {r['unknown_novel']:.3f} of them as novel "
            f"(thresholds: confidence {r['min_confidence']:.3f}, similarity {r['min_similarity']:.3f})"
        )
    print(
        f"mean over {args.seeds} seeds, {args.unseen} of 77 categories unseen, "
        f"target precision {args.target}, z {args.z}, encoder {args.encoder}:"
    )
    for key in [
        "accuracy_all_known",
        "answered_accuracy_known",
        "answered_accuracy_mix",
        "answered_accuracy_heavy",
        "answered_share_known",
        "unknown_recall",
        "unknown_novel",
    ]:
        print(f"  {key:<22} {statistics.mean(r[key] for r in results):.3f}")


if __name__ == "__main__":
    main()
