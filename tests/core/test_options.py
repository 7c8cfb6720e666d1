import math

import pytest

from mullama_jupyter.core.errors import InvalidOption
from mullama_jupyter.core.options import DEFAULTS, load_options, merge, validate_options


def test_known_options_are_typed():
    got = validate_options({"num_ctx": 2048.9, "temperature": 0, "stop": ["a", ""], "use_mmap": False, "seed": -1})
    assert got == {"num_ctx": 2048, "temperature": 0.0, "stop": ["a"], "use_mmap": False, "seed": -1}
    assert isinstance(got["temperature"], float)


def test_unknown_and_retired_keys_are_ignored(caplog):
    got = validate_options({"f16_kv": True, "tfs_z": 1.0, "no_such_option": 3})
    assert got == {}
    assert "no_such_option" in caplog.text
    assert "f16_kv" not in caplog.text


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_ctx": -1}, 'option "num_ctx" is out of range'),
        ({"num_ctx": 0}, 'option "num_ctx" is out of range'),
        ({"num_ctx": 2**40}, 'option "num_ctx" is out of range'),
        ({"num_predict": -5}, 'option "num_predict" is out of range'),
        ({"temperature": -0.1}, 'option "temperature" is out of range'),
        ({"top_p": 1.5}, 'option "top_p" is out of range'),
        ({"num_ctx": "4096"}, 'option "num_ctx" must be of type integer'),
        ({"temperature": "hot"}, 'option "temperature" must be of type float32'),
        ({"num_predict": True}, 'option "num_predict" must be of type integer'),
        ({"stop": "###"}, 'option "stop" must be of type array'),
        ({"stop": [1, 2]}, 'option "stop" must be of type array'),
        ({"use_mmap": "yes"}, 'option "use_mmap" must be of type boolean'),
        ({"temperature": math.nan}, 'option "temperature" must be a finite number'),
    ],
)
def test_bad_values_name_the_option(options, message):
    with pytest.raises(InvalidOption) as e:
        validate_options(options)
    assert message in e.value.message
    assert e.value.status == 400
    assert e.value.option == next(iter(options))


def test_options_must_be_an_object():
    with pytest.raises(InvalidOption):
        validate_options(["temperature", 1])


def test_precedence_defaults_model_request():
    model = {"temperature": 0.2, "stop": ["<|x|>"], "top_k": 10}
    request = {"temperature": 0.7, "stop": ["END"]}
    eff = merge(model, request)
    assert eff["temperature"] == 0.7
    assert eff["stop"] == ["END"]  # a request stop replaces the model's
    assert eff["top_k"] == 10
    assert eff["top_p"] == DEFAULTS["top_p"]


def test_load_options_are_the_subset_that_needs_a_new_runner():
    eff = merge({"num_ctx": 1024, "temperature": 0.1})
    lo = load_options(eff)
    assert lo["num_ctx"] == 1024
    assert "temperature" not in lo
