"""The query-string reader: every bracket dialect clients send becomes one tree, the shape
a JSON body would have; what cannot be read is marked malformed, never guessed at."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from emulator.doofinder._params import MAX_DEPTH, Params, merge, parse_pairs
from emulator.doofinder._query import integer, number


def tree(query: str) -> Params:
    return parse_pairs(parse_qsl(query, keep_blank_values=True))


@pytest.mark.parametrize("query, expected", [
    ("filter[color][]=blue&filter[color][]=red", {"filter": {"color": ["blue", "red"]}}),
    ("filter[color][0]=blue&filter[color][1]=red", {"filter": {"color": ["blue", "red"]}}),
    ("filter[color][1]=red&filter[color][0]=blue", {"filter": {"color": ["blue", "red"]}}),
    ("filter[color][10]=c&filter[color][9]=b&filter[color][2]=a",
     {"filter": {"color": ["a", "b", "c"]}}),
    ("filter[brand]=Nike", {"filter": {"brand": "Nike"}}),
    ("exclude[size]=M&exclude[size]=S", {"exclude": {"size": ["M", "S"]}}),
    ("filter[color][]=blue", {"filter": {"color": ["blue"]}}),
    ("filter[price][gte]=4.36&filter[price][lt]=99",
     {"filter": {"price": {"gte": "4.36", "lt": "99"}}}),
    ("facets[0][field]=brand&facets[0][size]=10&facets[1][field]=price&facets[1][type]=range",
     {"facets": [{"field": "brand", "size": "10"}, {"field": "price", "type": "range"}]}),
    ("sort[0][price]=asc&sort[1][brand]=desc", {"sort": [{"price": "asc"}, {"brand": "desc"}]}),
    ("sort[]=price", {"sort": ["price"]}),
    ("sort=price", {"sort": "price"}),
    ("indices[]=product&indices[]=page", {"indices": ["product", "page"]}),
    ("filter%5Bcolor%5D%5B%5D=blue", {"filter": {"color": ["blue"]}}),
    ("rpp=20&query=&page=1", {"rpp": "20", "query": "", "page": "1"}),
    ("q=a+b%20c", {"q": "a b c"}),
], ids=["brackets", "indexed", "indexed-reversed", "indexed-numerically", "scalar", "repeated",
        "one-bracket", "range", "facets", "sort", "sort-list", "sort-scalar", "indices",
        "encoded", "scalars", "spaces"])
def test_dialects(query, expected):
    parsed = tree(query)
    assert parsed.tree == expected and not parsed.malformed


@pytest.mark.parametrize("query, name", [
    ("filter=a&filter[b]=c", "filter"),
    ("filter[p][gte]=1&filter[p][]=2", "filter"),
    ("filter[color=red", "filter"),
    ("filter]x[=1", "filter]x"),
    ("a" + "[x]" * (MAX_DEPTH + 1) + "=1", "a"),
], ids=["scalar-and-map", "map-and-list", "unclosed", "backwards", "too-deep"])
def test_malformed_parameters_are_named_not_guessed(query, name):
    parsed = tree(query + "&rpp=5")
    assert name in parsed.malformed
    assert name not in parsed.tree and parsed.tree["rpp"] == "5"


def test_nesting_up_to_the_limit_is_read():
    parsed = tree("a" + "[x]" * MAX_DEPTH + "=1")
    assert not parsed.malformed


def test_a_body_and_a_query_string_merge_when_they_agree():
    merged = merge(tree("rpp=5&query=x"), {"query": "x", "page": 2})
    assert merged.tree == {"rpp": "5", "query": "x", "page": 2} and not merged.malformed
    clash = merge(tree("rpp=5"), {"rpp": "6"})
    assert clash.malformed == {"rpp"} and "rpp" not in clash.tree


@pytest.mark.parametrize("raw, expected", [
    ("10", 10), (10, 10), ("-3", -3), ("4.36", 4.36), (4.5, 4.5), ("1e2", 100.0),
    (".5", 0.5), ("5.", 5.0), ("", None), ("ten", None), (True, None), ("1_000", None),
    (" 1", None), ("inf", None), ("1e999", None), (float("nan"), None), ("٣", None),
])
def test_numbers_as_written(raw, expected):
    got = number(raw)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("raw, expected", [
    ("20", 20), (20, 20), ("+1", None), ("1.0", None), (1.0, None), (False, None), ("²", None),
])
def test_integers(raw, expected):
    assert integer(raw) == expected
