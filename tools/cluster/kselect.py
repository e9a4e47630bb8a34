# SPDX-License-Identifier: MIT
"""Kubernetes label and field selectors (parse + match)."""
import re


class SelectorError(ValueError):
    pass


def _split_terms(s):
    terms, depth, cur = [], 0, ''
    for ch in s:
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
        if ch == ',' and depth == 0:
            terms.append(cur)
            cur = ''
        else:
            cur += ch
    terms.append(cur)
    return [t.strip() for t in terms if t.strip()]


_KEY = r'[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?'
_SET = re.compile(r'^(' + _KEY + r')\s+(in|notin)\s*\(([^)]*)\)$')
_OP = re.compile(r'^(' + _KEY + r')\s*(==|!=|=)\s*([-A-Za-z0-9_.]*)$')
_EXISTS = re.compile(r'^(!?)\s*(' + _KEY + r')$')


def parse_labels(s):
    """Return a list of (key, op, values) requirements."""
    reqs = []
    for t in _split_terms(s or ''):
        m = _SET.match(t)
        if m:
            vals = {v.strip() for v in m.group(4).split(',') if v.strip()}
            reqs.append((m.group(1), m.group(3), vals))
            continue
        m = _OP.match(t)
        if m:
            op = '=' if m.group(3) in ('=', '==') else '!='
            reqs.append((m.group(1), op, {m.group(4)}))
            continue
        m = _EXISTS.match(t)
        if m:
            reqs.append((m.group(2), '!' if m.group(1) else 'exists', set()))
            continue
        raise SelectorError('unable to parse requirement: %r' % t)
    return reqs


def match_labels(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == '=' and not (has and v in vals):
            return False
        if op == '!=' and has and v in vals:
            return False
        if op == 'in' and not (has and v in vals):
            return False
        if op == 'notin' and has and v in vals:
            return False
        if op == 'exists' and not has:
            return False
        if op == '!' and has:
            return False
    return True


def match_map(selector, labels):
    """Service-style selector (a plain map); empty map matches nothing."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def label_selector_to_reqs(sel):
    """metav1.LabelSelector (matchLabels/matchExpressions) to reqs."""
    reqs = [(k, '=', {v}) for k, v in (sel.get('matchLabels') or {}).items()]
    for e in sel.get('matchExpressions') or []:
        op = {'In': 'in', 'NotIn': 'notin', 'Exists': 'exists',
              'DoesNotExist': '!'}[e['operator']]
        reqs.append((e['key'], op, set(e.get('values') or [])))
    return reqs


def parse_fields(s):
    reqs = []
    for t in _split_terms(s or ''):
        m = re.match(r'^([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)$', t)
        if not m:
            raise SelectorError('invalid field selector: %r' % t)
        reqs.append((m.group(1), m.group(2) != '!=', m.group(3)))
    return reqs


def field_value(obj, path):
    cur = obj
    for p in path.split('.'):
        if not isinstance(cur, dict):
            return ''
        cur = cur.get(p)
    return '' if cur is None else str(cur)


def match_fields(reqs, obj):
    return all((field_value(obj, p) == v) == eq for p, eq, v in reqs)
