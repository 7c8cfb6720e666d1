import random

from mullama_jupyter.core.streamparse import ThinkingSplitter, ToolCallParser, ToolFormat


def feed_all(parser, pieces):
    out_a, out_b = [], []
    for p in pieces:
        a, b = parser.feed(p)
        out_a.append(a)
        out_b.append(b)
    a, b = parser.flush()
    out_a.append(a)
    out_b.append(b)
    return out_a, out_b


def chop(text, rng):
    cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(1, 12))))
    return [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)])]


def test_thinking_is_split_out_wherever_the_chunks_cut_the_tags():
    text = "<think>Let me see: 2+2.</think>\nIt is 4."
    rng = random.Random(7)
    for _ in range(200):
        content, thinking = feed_all(ThinkingSplitter(), chop(text, rng))
        assert "".join(content) == "It is 4." and "".join(thinking) == "Let me see: 2+2."


def test_thinking_opened_by_the_prompt_and_custom_markers():
    content, thinking = feed_all(ThinkingSplitter("[T]", "[/T]", inside=True), ["plan", "ning[/", "T]answer"])
    assert "".join(thinking) == "planning" and "".join(content) == "answer"
    content, thinking = feed_all(ThinkingSplitter(), ["no tags, a < sign and <th", "e end"])
    assert "".join(content) == "no tags, a < sign and <the end" and "".join(thinking) == ""


def test_tool_calls_are_parsed_out_of_the_stream():
    text = 'Sure.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>'
    rng = random.Random(3)
    for _ in range(200):
        content, calls = feed_all(ToolCallParser(ToolFormat()), chop(text, rng))
        flat = [c for batch in calls for c in batch]
        assert "".join(content) == "Sure." and [(c.name, c.arguments) for c in flat] == [("get_weather", {"city": "Tokyo"})]
        assert flat[0].id.startswith("call_") and len(flat[0].id) == 13


def test_several_calls_lists_and_bad_json():
    p = ToolCallParser(ToolFormat("[CALL]", "[/CALL]"))
    content, calls = p.feed('[CALL][{"name": "a", "arguments": {}}, {"name": "b", "parameters": "{\\"x\\": 1}"}][/CALL]')
    assert content == "" and [(c.name, c.arguments, c.index) for c in calls] == [("a", {}, 0), ("b", {"x": 1}, 1)]
    content, calls = ToolCallParser(ToolFormat()).feed("<tool_call>not json</tool_call> after")
    assert content == "<tool_call>not json</tool_call> after" and calls == []
    p = ToolCallParser(ToolFormat())
    assert p.feed('<tool_call>{"name": "f", "arguments": {"a": 1}}') == ("", [])
    content, calls = p.flush()  # the model stopped before the end marker
    assert content == "" and calls[0].name == "f"
