"""SDAR loss (values, gates, the gradient propositions), Skill-SD and the divergences."""

import math

import pytest
import torch
from torch.testing import assert_close

from sdar.algos import (
    GATES,
    distill_divergence,
    logprobs_from_logits,
    sdar_loss,
    skill_sd_loss,
)

F64 = torch.float64


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def random_batch(seed=0, b=3, t=6):
    gen = torch.Generator().manual_seed(seed)
    lp = -3 * torch.rand(b, t, generator=gen, dtype=F64)
    teacher = -3 * torch.rand(b, t, generator=gen, dtype=F64)
    mask = torch.rand(b, t, generator=gen) > 0.3
    mask[0, 0] = True
    return lp, teacher, mask


# ---- SDAR loss values ---------------------------------------------------------------


def test_sdar_by_hand():
    lp = torch.tensor([[-1.0, -2.0]], dtype=F64)
    teacher = torch.tensor([[-0.5, -3.0]], dtype=F64)
    # gap = (0.5, -1); g = sigma(5 * 0.5) = sigma(2.5), sigma(-5)
    # l = g * gap = 0.5 sigma(2.5), -sigma(-5); token-mean over 2 tokens
    g = (sig(2.5), sig(-5.0))
    loss, m = sdar_loss(lp, teacher, torch.ones(1, 2))
    assert loss.item() == pytest.approx((0.5 * g[0] - g[1]) / 2)
    assert m["gate_mean"].item() == pytest.approx((g[0] + g[1]) / 2)
    assert m["gate_active_ratio"].item() == 0.5
    assert m["gap_mean"].item() == pytest.approx(-0.25)
    assert m["gap_std"].item() == pytest.approx(0.75)  # population std of (0.5, -1)
    assert m["loss"].item() == pytest.approx(loss.item())
    assert all(not v.requires_grad and v.dim() == 0 for v in m.values())


def test_beta_zero_is_constant_half_gate():
    lp, teacher, mask = random_batch()
    loss, m = sdar_loss(lp, teacher, mask, beta=0.0)
    assert m["gate_mean"].item() == 0.5
    assert m["gate_active_ratio"].item() == 0.0  # g > 0.5 is strict
    gap = (teacher - lp)[mask]
    assert_close(loss, 0.5 * gap.mean())


def test_gap_gate_is_symmetric():
    # g(delta) + g(-delta) = 1, g(0) = 1/2, g >= 1/2 iff delta >= 0
    delta = torch.linspace(-30, 30, 61, dtype=F64)
    gate = GATES["gap"]
    g_pos, g_neg = gate(delta, None, None, 5.0), gate(-delta, None, None, 5.0)
    assert_close(g_pos + g_neg, torch.ones_like(delta))
    assert g_pos[30].item() == 0.5
    assert ((g_pos >= 0.5) == (delta >= 0)).all()


def test_entropy_gate_by_hand():
    lp = torch.tensor([[-1.0, -1.0]], dtype=F64)
    teacher = torch.tensor([[-2.0, 0.0]], dtype=F64)
    entropy = torch.tensor([[0.0, 1.0]], dtype=F64)
    # g = sigma(5 h) = 0.5, sigma(5); gap = (-1, 1) -> loss = (-0.5 + sigma(5)) / 2
    loss, m = sdar_loss(lp, teacher, torch.ones(1, 2), gate="entropy", entropy=entropy)
    assert loss.item() == pytest.approx((-0.5 + sig(5.0)) / 2)
    assert m["gate_active_ratio"].item() == 0.5


def test_soft_or_gate_by_hand_ignores_masked_tokens():
    # masked 4th token carries huge garbage that would dominate an unmasked min-max
    entropy = torch.tensor([[0.0, 1.0, 2.0, 1e4]], dtype=F64)
    lp = torch.tensor([[-2.0, -1.0, -1.0, 0.0]], dtype=F64)
    teacher = torch.tensor([[-1.0, -2.0, -1.0, -1e4]], dtype=F64)
    mask = torch.tensor([[1, 1, 1, 0]])
    # h~ = (0, .5, 1); gap = (1, -1, 0) -> gap~ = (1, 0, .5)
    # score = 1 - (1 - h~)(1 - gap~) = (1, .5, 1) -> g = sigma(5), sigma(2.5), sigma(5)
    g = (sig(5.0), sig(2.5), sig(5.0))
    loss, m = sdar_loss(lp, teacher, mask, gate="soft_or", entropy=entropy)
    assert loss.item() == pytest.approx((g[0] * 1 + g[1] * -1 + g[2] * 0) / 3)
    assert m["gate_mean"].item() == pytest.approx(sum(g) / 3)
    # a constant score (single token) normalises to 0 -> g = 1/2
    _, m1 = sdar_loss(
        lp[:, :1], teacher[:, :1], mask[:, :1], gate="soft_or", entropy=entropy[:, :1]
    )
    assert m1["gate_mean"].item() == 0.5


def test_none_gate_is_ungated():
    lp, teacher, mask = random_batch()
    loss, m = sdar_loss(lp, teacher, mask, gate="none", beta=123.0)
    assert_close(loss, (teacher - lp)[mask].mean())
    assert m["gate_mean"].item() == 1.0


def test_aggregation_modes():
    lp = torch.zeros(2, 2, dtype=F64)
    teacher = torch.tensor([[1.0, 3.0], [2.0, 0.0]], dtype=F64)
    mask = torch.tensor([[1, 1], [1, 0]])
    # gate "none": l = teacher; token-mean 6/3; seq-mean-token-mean (2 + 2)/2; token-sum (4 + 2)/2
    for agg, expected in [
        ("token-mean", 2.0),
        ("seq-mean-token-mean", 2.0),
        ("seq-mean-token-sum", 3.0),
    ]:
        loss, _ = sdar_loss(lp, teacher, mask, gate="none", agg=agg)
        assert loss.item() == pytest.approx(expected)


# ---- SDAR gradient propositions (SDAR_SPEC 3.5) --------------------------------------


def test_p1_gradient_is_minus_gate_over_token_count():
    lp, teacher, mask = random_batch()
    lp.requires_grad_(True)
    loss, _ = sdar_loss(lp, teacher, mask)
    (grad,) = torch.autograd.grad(loss, lp)
    gate = torch.sigmoid(5.0 * (teacher - lp.detach()))
    assert_close(grad, -gate * mask / mask.sum())


def test_p1_seq_mean_token_mean_weights():
    lp, teacher, mask = random_batch()
    lp.requires_grad_(True)
    loss, _ = sdar_loss(lp, teacher, mask, agg="seq-mean-token-mean")
    (grad,) = torch.autograd.grad(loss, lp)
    gate = torch.sigmoid(5.0 * (teacher - lp.detach()))
    rows = mask.sum(-1, keepdim=True)
    assert_close(grad, -gate * mask / (rows * (rows > 0).sum()))


def test_p1_undetached_variant_differs_by_the_gate_derivative_term():
    lp, teacher, mask = random_batch()
    lp.requires_grad_(True)
    beta, count = 5.0, mask.sum()
    ours, _ = sdar_loss(lp, teacher, mask, beta=beta)
    (grad,) = torch.autograd.grad(ours, lp)
    # the same expression without stop-gradients on the gate
    gap = teacher - lp
    naive = (torch.sigmoid(beta * gap) * gap * mask).sum() / count
    (grad_naive,) = torch.autograd.grad(naive, lp)
    assert_close(naive, ours)  # equal values ...
    g = torch.sigmoid(beta * (teacher - lp.detach()))
    extra = -beta * g * (1 - g) * (teacher - lp.detach()) * mask / count
    assert_close(grad_naive, grad + extra)  # ... but the naive gradient has d g / d lp
    assert (extra.abs() > 1e-6).any()


def test_p2_gradient_bounded_by_unweighted_likelihood_gradient():
    # a tiny linear policy: logits = x W, lp = log softmax(x W)[y]
    gen = torch.Generator().manual_seed(3)
    b, t, d, v = 2, 5, 4, 7
    x = torch.randn(b, t, d, generator=gen, dtype=F64)
    weight = torch.randn(d, v, generator=gen, dtype=F64, requires_grad=True)
    ids = torch.randint(0, v, (b, t), generator=gen)
    teacher = -3 * torch.rand(b, t, generator=gen, dtype=F64)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[1, 3:] = False
    lp = logprobs_from_logits(x @ weight, ids)
    loss, _ = sdar_loss(lp, teacher, mask)
    (grad_sdar,) = torch.autograd.grad(loss, weight, retain_graph=True)
    # per-token coefficient |dL/d lp_t| = g_t / M <= 1 / M, the unweighted likelihood's
    (coef,) = torch.autograd.grad(loss, lp, retain_graph=True)
    assert (coef.abs() <= mask / mask.sum()).all()
    # ||grad L|| <= max_t ||grad log pi(y_t)|| over the valid tokens
    token_norms = [
        torch.autograd.grad(lp[i, j], weight, retain_graph=True)[0].norm()
        for i, j in mask.nonzero().tolist()
    ]
    assert grad_sdar.norm() <= max(token_norms)


# ---- SDAR masking, extremes, bad input -----------------------------------------------


@pytest.mark.parametrize("junk", [1e4, math.inf, math.nan])
@pytest.mark.parametrize("gate", ["gap", "entropy", "soft_or", "none"])
def test_sdar_masked_garbage_changes_nothing(gate, junk):
    lp, teacher, mask = random_batch(seed=5)
    entropy = torch.rand(lp.shape, dtype=F64)
    lp1 = lp.clone().requires_grad_(True)
    loss1, m1 = sdar_loss(lp1, teacher, mask, gate=gate, entropy=entropy)
    (g1,) = torch.autograd.grad(loss1, lp1)
    lp2 = torch.where(mask, lp, torch.tensor(-junk, dtype=F64)).requires_grad_(True)
    teacher2 = torch.where(mask, teacher, torch.tensor(junk, dtype=F64))
    entropy2 = torch.where(mask, entropy, torch.tensor(junk * 1e26, dtype=F64))
    loss2, m2 = sdar_loss(lp2, teacher2, mask.float(), gate=gate, entropy=entropy2)
    (g2,) = torch.autograd.grad(loss2, lp2)
    assert_close(loss2, loss1)
    assert_close(g2, g1)
    for name in m1:
        assert_close(m2[name], m1[name])


@pytest.mark.parametrize("gate", ["gap", "entropy", "soft_or", "none"])
def test_sdar_extreme_values_finite(gate):
    lp = torch.tensor([[-1e4, 0.0, -1e4]], requires_grad=True)
    teacher = torch.tensor([[0.0, -1e4, -1e4]])
    entropy = torch.tensor([[0.0, 12.0, 1e4]])
    loss, m = sdar_loss(lp, teacher, torch.ones(1, 3), gate=gate, entropy=entropy)
    (grad,) = torch.autograd.grad(loss, lp)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    assert all(torch.isfinite(v) for v in m.values())


def test_sdar_bad_inputs():
    lp = torch.zeros(2, 4)
    with pytest.raises(
        ValueError,
        match="sdar_loss: teacher_logprobs has shape \\(2, 3\\), expected \\(2, 4\\) like logprobs",
    ):
        sdar_loss(lp, torch.zeros(2, 3), lp)
    with pytest.raises(ValueError, match="sdar_loss: logprobs has dtype torch.int64"):
        sdar_loss(lp.long(), lp, lp)
    with pytest.raises(ValueError, match="sdar_loss: unknown gate 'sharp'; expected one of"):
        sdar_loss(lp, lp, lp, gate="sharp")
    with pytest.raises(ValueError, match="sdar_loss: gate 'entropy' needs entropy"):
        sdar_loss(lp, lp, lp, gate="entropy")
    with pytest.raises(ValueError, match="sdar_loss: entropy has shape \\(2, 1\\)"):
        sdar_loss(lp, lp, lp, gate="soft_or", entropy=torch.zeros(2, 1))
    with pytest.raises(ValueError, match="sdar_loss: mask has shape \\(4,\\)"):
        sdar_loss(lp, lp, lp[0])
    with pytest.raises(ValueError, match="sdar_loss: unknown agg"):
        sdar_loss(lp, lp, lp, agg="seq-sum")


# ---- Skill-SD ------------------------------------------------------------------------


def test_skill_sd_by_hand_and_gradient():
    lp = torch.tensor([[-1.0, -2.0]], dtype=F64, requires_grad=True)
    old = torch.tensor([[-1.5, -2.0]], dtype=F64)
    teacher = torch.tensor([[-2.0, -1.0]], dtype=F64)
    # token 0: l = 1, k3 = e^-1 - 1 + 1, rho = e^0.5;  token 1: l = -1, k3 = e - 2, rho = 1
    k3 = (math.exp(-1), math.e - 2)
    rho = (math.exp(0.5), 1.0)
    loss, m = skill_sd_loss(lp, old, teacher, torch.ones(1, 2))
    assert loss.item() == pytest.approx((rho[0] * k3[0] + rho[1] * k3[1]) / 2)
    assert m["kl_mean"].item() == pytest.approx(sum(k3) / 2)
    assert m["ratio_mean"].item() == pytest.approx(sum(rho) / 2)
    # rho carries gradient: d(rho k3)/d lp = rho * l, over M = 2 tokens
    (grad,) = torch.autograd.grad(loss, lp)
    assert_close(grad, torch.tensor([[rho[0] * 1 / 2, rho[1] * -1 / 2]], dtype=F64))


def test_skill_sd_clamps_masking_and_extremes():
    # l = -30: k3 = exp(min(30, 20)) - 1 - 30; lp - old = 15: rho = exp(10)
    lp = torch.tensor([[-30.0, 5.0]], dtype=F64)
    loss, _ = skill_sd_loss(
        lp,
        torch.tensor([[-30.0, -10.0]], dtype=F64),
        torch.tensor([[0.0, 5.0]], dtype=F64),
        torch.ones(1, 2),
    )
    assert loss.item() == pytest.approx((math.exp(20) - 31 + math.exp(10) * 0.0) / 2)
    lp = torch.tensor([[-1e4, 0.0, 3.0]], requires_grad=True)
    old = torch.tensor([[0.0, -1e4, math.nan]])
    teacher = torch.tensor([[0.0, -1e4, math.inf]])
    mask = torch.tensor([[1, 1, 0]])
    loss, m = skill_sd_loss(lp, old, teacher, mask)
    (grad,) = torch.autograd.grad(loss, lp)
    assert torch.isfinite(loss) and torch.isfinite(grad).all() and grad[0, 2] == 0
    loss_clean, _ = skill_sd_loss(lp[:, :2], old[:, :2], teacher[:, :2], mask[:, :2])
    assert_close(loss, loss_clean)


def test_skill_sd_bad_inputs():
    lp = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="skill_sd_loss: old_logprobs has shape \\(4,\\)"):
        skill_sd_loss(lp, lp[0], lp, lp)
    with pytest.raises(ValueError, match="skill_sd_loss: teacher_logprobs has dtype"):
        skill_sd_loss(lp, lp, lp.int(), lp)


# ---- full-distribution divergences ---------------------------------------------------

# student p_S = (1/2, 1/2), teacher p_T = (1/4, 3/4)
STUDENT = torch.tensor([[[0.0, 0.0]]], dtype=F64)
TEACHER = torch.tensor([[[0.0, math.log(3.0)]]], dtype=F64)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        # 1/2 ln(1/2 / 1/4) + 1/2 ln(1/2 / 3/4) = 1/2 ln(4/3)
        ("reverse_kl", 0.5 * math.log(4 / 3)),
        # 1/4 ln(1/4 / 1/2) + 3/4 ln(3/4 / 1/2)
        ("forward_kl", 0.25 * math.log(0.5) + 0.75 * math.log(1.5)),
        # M = (3/8, 5/8): 1/2 [1/2 ln(4/3) + 1/2 ln(4/5)] + 1/2 [1/4 ln(2/3) + 3/4 ln(6/5)]
        ("jsd", 0.25 * math.log(16 / 15) + 0.125 * math.log(2 / 3) + 0.375 * math.log(1.2)),
    ],
)
def test_divergences_by_hand(kind, expected):
    got = distill_divergence(STUDENT, TEACHER, torch.ones(1, 1), kind)
    assert got.item() == pytest.approx(expected)


def test_divergences_match_torch_reference_and_bounds():
    gen = torch.Generator().manual_seed(7)
    s = 3 * torch.randn(2, 3, 10, generator=gen, dtype=F64)
    t = 3 * torch.randn(2, 3, 10, generator=gen, dtype=F64)
    mask = torch.ones(2, 3)
    ls, lt = torch.log_softmax(s, -1), torch.log_softmax(t, -1)
    rkl = torch.nn.functional.kl_div(lt, ls, log_target=True, reduction="none").sum(-1)
    fkl = torch.nn.functional.kl_div(ls, lt, log_target=True, reduction="none").sum(-1)
    assert_close(distill_divergence(s, t, mask, "reverse_kl"), rkl)
    assert_close(distill_divergence(s, t, mask, "forward_kl"), fkl)
    js = distill_divergence(s, t, mask, "jsd")
    assert (js >= 0).all() and (js <= math.log(2) + 1e-12).all()
    for kind in ("reverse_kl", "forward_kl", "jsd"):
        assert_close(distill_divergence(s, s.clone(), mask, kind), torch.zeros(2, 3, dtype=F64))
        # top-k with k = V is the full vocabulary
        assert_close(
            distill_divergence(s, t, mask, kind, topk=10), distill_divergence(s, t, mask, kind)
        )


@pytest.mark.parametrize("kind", ["reverse_kl", "forward_kl", "jsd"])
def test_topk_union_renormalised(kind):
    # k = 1: student's top is token 0, teacher's top is token 1 -> support {0, 1}
    s = torch.tensor([[[3.0, 2.0, 0.0, -1.0]]], dtype=F64)
    t = torch.tensor([[[0.0, 3.0, 2.0, -1.0]]], dtype=F64)
    mask = torch.ones(1, 1)
    expected = distill_divergence(s[..., :2], t[..., :2], mask, kind)
    assert_close(distill_divergence(s, t, mask, kind, topk=1), expected)
    # k = 2: student {0, 1}, teacher {1, 2} -> support {0, 1, 2}
    expected = distill_divergence(s[..., :3], t[..., :3], mask, kind)
    assert_close(distill_divergence(s, t, mask, kind, topk=2), expected)


@pytest.mark.parametrize("topk", [None, 2])
@pytest.mark.parametrize("kind", ["reverse_kl", "forward_kl", "jsd"])
def test_divergence_gradient_student_only_masking_extremes(kind, topk):
    gen = torch.Generator().manual_seed(11)
    s = (2 * torch.randn(2, 3, 6, generator=gen)).requires_grad_(True)
    t = (2 * torch.randn(2, 3, 6, generator=gen)).requires_grad_(True)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    out = distill_divergence(s, t, mask, kind, topk=topk)
    assert (out[mask == 0] == 0).all()
    out.sum().backward()
    assert t.grad is None
    assert (s.grad[mask == 0] == 0).all() and s.grad.abs().sum() > 0
    # garbage under mask 0 and +-1e4 logits elsewhere: finite values and gradients
    s2 = torch.where(mask.bool().unsqueeze(-1), s.detach(), torch.tensor(math.inf))
    s2[0, 0] = torch.tensor([1e4, -1e4, 0.0, 0.0, 5.0, -5.0])
    s2.requires_grad_(True)
    t2 = t.detach().clone()
    t2[0, 0] = torch.tensor([-1e4, 1e4, 0.0, 0.0, 0.0, 0.0])
    out2 = distill_divergence(s2, t2, mask, kind, topk=topk)
    out2.sum().backward()
    assert torch.isfinite(out2).all() and torch.isfinite(s2.grad).all()
    assert_close(out2[1, 0], out[1, 0].detach())


def test_divergence_bad_inputs():
    s = torch.zeros(2, 3, 5)
    with pytest.raises(ValueError, match="distill_divergence: unknown kind 'tvd'"):
        distill_divergence(s, s, torch.ones(2, 3), "tvd")
    with pytest.raises(ValueError, match="teacher_logits has shape \\(2, 3, 4\\)"):
        distill_divergence(s, s[..., :4], torch.ones(2, 3), "jsd")
    with pytest.raises(ValueError, match="distill_divergence: mask has shape \\(2, 2\\)"):
        distill_divergence(s, s, torch.ones(2, 2), "jsd")
    with pytest.raises(ValueError, match="topk must be an int in \\[1, 5\\]"):
        distill_divergence(s, s, torch.ones(2, 3), "jsd", topk=6)
