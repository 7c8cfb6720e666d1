import pytest

from mullama_jupyter.core.errors import InvalidRequest, TemplateError
from mullama_jupyter.core.native import CompletionRequest, Message
from mullama_jupyter.core.prompt import build_prompt, capabilities, check_request, effective_template
from mullama_jupyter.core.store import Store
from mullama_jupyter.core.template import FALLBACK_TEMPLATE, chat_messages, render_chat
from tests.conftest import pull_into

CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def test_renders_hugging_face_templates():
    out = render_chat(CHATML, [Message("system", "Be brief."), Message("user", "Hi")])
    assert out == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert render_chat("{{ bos_token }}{{ messages | tojson }}", [Message("user", "é")], bos_token="<s>") == \
        '<s>[{"role": "user", "content": "é"}]'
    assert render_chat("{% generation %}x{% endgeneration %}{{ strftime_now('%Y')[:2] }}", []) == "x20"


@pytest.mark.parametrize("template", [
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for m in messages %}{{ m.__class__.__init__.__globals__ }}{% endfor %}",
])
def test_hostile_templates_are_stopped_by_the_sandbox(template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TemplateError):
        render_chat(template, [Message("user", "x")])
    assert not (tmp_path / "MARKER").exists()


def test_template_errors_are_clear():
    with pytest.raises(TemplateError, match="template error: chat template does not parse"):
        render_chat("{% for %}", [])
    with pytest.raises(TemplateError, match="template error: only user and assistant"):
        render_chat("{{ raise_exception('only user and assistant') }}", [])


def test_model_system_prompt_is_prepended_unless_the_request_has_one():
    msgs = [Message("user", "hi")]
    assert [m.role for m in chat_messages("S", msgs)] == ["system", "user"]
    own = [Message("system", "mine"), Message("user", "hi")]
    assert chat_messages("S", own) == own


@pytest.fixture(scope="module")
def smollm(tmp_path_factory):
    store = pull_into(tmp_path_factory.mktemp("s"))
    rec = store.load("smollm2:135m")
    return rec, store.gguf_info(rec.model_digest)


def test_the_real_models_own_template_is_used(smollm):
    rec, info = smollm
    req = CompletionRequest(model="smollm2:135m", messages=[Message("user", "Hello")])
    p = build_prompt(rec, info, req)
    assert p.text.endswith("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n")
    assert p.add_bos is False  # the template writes its own special tokens
    assert effective_template(rec, info) == info.chat_template
    assert capabilities(rec, info) == ["completion"]


def test_raw_prompts_skip_the_template(smollm):
    rec, info = smollm
    p = build_prompt(rec, info, CompletionRequest(model="m", raw_prompt="<|im_start|>x"))
    assert (p.text, p.add_bos) == ("<|im_start|>x", True)


def test_requests_a_model_cannot_serve_fail_with_ollamas_texts(smollm):
    rec, info = smollm
    with pytest.raises(InvalidRequest, match=r"registry.ollama.ai/library/smollm2:135m does not support tools"):
        check_request(rec, info, CompletionRequest(model="smollm2:135m", tools=[{"type": "function"}]), "smollm2:135m")
    with pytest.raises(InvalidRequest, match='"smollm2:135m" does not support thinking'):
        check_request(rec, info, CompletionRequest(model="smollm2:135m", think=True), "smollm2:135m")


def test_a_gguf_without_a_template_gets_the_plain_fallback(tmp_path):
    from mullama_jupyter.core.pull import pull
    from tests.gguf_factory import tiny_llama_gguf

    store = Store(tmp_path / "s")
    rec = pull(store, str(tiny_llama_gguf(tmp_path / "nt.gguf", **{"tokenizer.chat_template": None})), lambda p: None)
    info = store.gguf_info(rec.model_digest)
    assert effective_template(rec, info) == FALLBACK_TEMPLATE
    p = build_prompt(rec, info, CompletionRequest(model="nt", messages=[Message("user", "Hi")]))
    assert p.text == "User: Hi\nAssistant:" and p.add_bos
