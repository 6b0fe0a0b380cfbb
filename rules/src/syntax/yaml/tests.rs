//! Unit tests of the YAML layer: tree shape, node positions, positions inside scalars,
//! the constructs libyaml accepts that stricter parsers reject, and error positions.

use std::sync::Arc;

use super::*;

fn file(text: &str) -> Arc<SourceFile> {
    Arc::new(SourceFile { name: "t.yaml".into(), text: text.into() })
}

#[test]
fn tree_and_positions() {
    let text = "- rule: a\n  tags: [x, y]\n- list: l\n  items: &i [1, 2]\n- other: *i\n";
    let docs = parse(text).unwrap();
    assert_eq!(docs.len(), 1);
    let NodeKind::Seq(items) = &docs[0].kind else { panic!("not a seq") };
    assert_eq!(items.len(), 3);
    let rule = items[0].get("rule").unwrap();
    assert_eq!(rule.as_str(), Some("a"));
    assert_eq!(rule.pos(), Pos { line: 1, col: 9 });
    let tags = items[0].get("tags").unwrap();
    let NodeKind::Seq(t) = &tags.kind else { panic!("tags not a seq") };
    assert_eq!(t[1].pos(), Pos { line: 2, col: 13 });
    let alias = items[2].get("other").unwrap();
    assert_eq!(alias.kind_name(), "a list");
}

#[test]
fn syntax_error_position() {
    // The flow list is still open at the end of the file: the error is there (after the
    // last character), and names where the list started.
    let err = parse("- rule: a\n  condition: [x\n- b").unwrap_err();
    assert_eq!(err.pos, Pos { line: 3, col: 4 }, "{err:?}");
    assert_eq!(err.message, "did not find expected ',' or ']' (while parsing a flow sequence at 2:14)");
}

#[test]
fn locate_inside_folded_and_plain() {
    let text = "- rule: r\n  condition: >\n    evt.type = execve\n    and proc.nme = x\n";
    let f = file(text);
    let docs = parse(text).unwrap();
    let NodeKind::Seq(items) = &docs[0].kind else { panic!("not a seq") };
    let cond = items[0].get("condition").unwrap();
    let value = cond.as_str().unwrap();
    assert_eq!(value, "evt.type = execve and proc.nme = x\n");
    let span = ScalarSpan::new(&f, cond);
    let off = value.find("proc.nme").unwrap();
    assert_eq!(span.locate(value, off), Pos { line: 4, col: 9 });
    assert_eq!(span.locate(value, 0), Pos { line: 3, col: 5 });

    let text = "- macro: m\n  condition: proc.name = a and\n    proc.bad = b\n";
    let f = file(text);
    let docs = parse(text).unwrap();
    let NodeKind::Seq(items) = &docs[0].kind else { panic!("not a seq") };
    let cond = items[0].get("condition").unwrap();
    let value = cond.as_str().unwrap();
    let span = ScalarSpan::new(&f, cond);
    assert_eq!(span.locate(value, value.find("proc.bad").unwrap()), Pos { line: 3, col: 5 });
}

#[test]
fn locate_quoted() {
    let text = "x: \"proc.name = 'a' and bad\"\n";
    let f = file(text);
    let docs = parse(text).unwrap();
    let v = docs[0].get("x").unwrap();
    let value = v.as_str().unwrap();
    let span = ScalarSpan::new(&f, v);
    assert_eq!(span.locate(value, value.find("bad").unwrap()), Pos { line: 1, col: 25 });
}

/// The items of a document whose root is a list.
fn root_items(text: &str) -> Vec<Node> {
    let docs = parse(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(docs.len(), 1, "{text:?}");
    match &docs[0].kind {
        NodeKind::Seq(items) => items.clone(),
        _ => panic!("root is {}: {text:?}", docs[0].kind_name()),
    }
}

/// The scalars of a list node, with their positions.
fn scalars(node: &Node) -> Vec<(String, Pos)> {
    let NodeKind::Seq(items) = &node.kind else { panic!("{} is not a list", node.kind_name()) };
    items.iter().map(|n| (n.as_str().unwrap_or_else(|| panic!("{n:?}")).to_string(), n.pos())).collect()
}

fn at(line: u32, col: u32) -> Pos {
    Pos { line, col }
}

#[test]
fn flow_list_closed_at_its_key_indentation() {
    // Falco's sandbox rules lay long lists out like this; yaml-rust2 rejected the `]`
    // with "invalid indentation".
    let text = "- list: some_list\n  items: [\n    \"a\", \"b\",\n    \"c\"\n  ]\n- macro: m\n  condition: proc.name in (some_list)\n";
    let items = root_items(text);
    assert_eq!(items.len(), 2);
    let list = items[0].get("items").unwrap();
    assert_eq!(list.pos(), at(2, 10));
    let expected = [("a", at(3, 5)), ("b", at(3, 10)), ("c", at(4, 5))];
    assert_eq!(scalars(list), expected.map(|(s, p)| (s.to_string(), p)));
    assert_eq!(items[0].get("list").unwrap().pos(), at(1, 9));
    let cond = items[1].get("condition").unwrap();
    assert_eq!((cond.as_str(), cond.pos()), (Some("proc.name in (some_list)"), at(7, 14)));
    // Character indexes follow the positions.
    let c = text.chars().nth(list.mark.index).unwrap();
    assert_eq!(c, '[');
}

#[test]
fn flow_collections_left_of_their_key() {
    // Items and closing brackets at column 0, a multi-line flow mapping, nested flow
    // lists, a quoted string continued at column 0 and tabs inside a flow list: all
    // accepted by libyaml.
    let text = concat!(
        "- list: l\n  items: [\nx, \"y\",\n[p,\nq]\n]\n",
        "- rule: r\n  override: {\ncondition: append,\n    output: replace\n}\n",
        "  output: \"one\ntwo\"\n  tags: [\n\ta,\n\tb\n  ]\n  enabled:\ttrue\n",
    );
    let items = root_items(text);
    let list = items[0].get("items").unwrap();
    let NodeKind::Seq(l) = &list.kind else { panic!("{list:?}") };
    assert_eq!((l[0].as_str(), l[0].pos()), (Some("x"), at(3, 1)));
    assert_eq!((l[1].as_str(), l[1].pos()), (Some("y"), at(3, 4)));
    assert_eq!(scalars(&l[2]), [("p".to_string(), at(4, 2)), ("q".to_string(), at(5, 1))]);
    let over = items[1].get("override").unwrap();
    assert_eq!(over.pos(), at(8, 13));
    let cond = over.get("condition").unwrap();
    assert_eq!((cond.as_str(), cond.pos()), (Some("append"), at(9, 12)));
    assert_eq!(over.get("output").unwrap().pos(), at(10, 13));
    assert_eq!(items[1].get("output").unwrap().as_str(), Some("one two"));
    assert_eq!(scalars(items[1].get("tags").unwrap()), [("a".to_string(), at(15, 2)), ("b".to_string(), at(16, 2))]);
    assert_eq!(items[1].get("enabled").unwrap().as_str(), Some("true"));
}

#[test]
fn error_inside_a_multi_line_flow_list() {
    let text = "- list: some_list\n  items: [\n    \"a\" \"b\",\n  ]\n";
    let err = parse(text).unwrap_err();
    assert_eq!(err.pos, at(3, 9), "{err:?}");
    assert_eq!(err.message, "did not find expected ',' or ']' (while parsing a flow sequence at 2:10)");
    // A block item less indented than its list is still an error.
    let err = parse("- list: l\n  items: [\n    a\n  ]\n - x\n").unwrap_err();
    assert_eq!(err.pos, at(5, 2), "{err:?}");
    assert!(err.message.starts_with("did not find expected '-' indicator"), "{err:?}");
}

#[test]
fn mappings_lists_and_empty_values() {
    // A block mapping is placed at its first key, a list at its first `-` (also when
    // it is not indented under its key), an empty value right after its `:`.
    let text = "- rule: a\n  enabled:\n  tags:\n  - x\n- {a: 1}\n";
    let items = root_items(text);
    assert_eq!(items[0].pos(), at(1, 3));
    let enabled = items[0].get("enabled").unwrap();
    assert!(enabled.is_null());
    assert_eq!(enabled.pos(), at(2, 11));
    assert_eq!(items[0].get("tags").unwrap().pos(), at(4, 3));
    assert_eq!(items[1].pos(), at(5, 3));
}

#[test]
fn anchored_and_tagged_nodes_are_placed_at_their_content() {
    let text = "base: &b\n  # the base\n  x: 1\nlist: &l [1]\ntagged: !!str 5\nboth: !t &p v\nempty: &e\nuse: *l\n";
    let docs = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let d = &docs[0];
    let pos = |k: &str| d.get(k).unwrap().pos();
    assert_eq!(pos("base"), at(3, 3));
    assert_eq!(pos("list"), at(4, 10));
    assert_eq!(pos("tagged"), at(5, 15));
    assert_eq!(pos("both"), at(6, 13));
    assert_eq!(pos("empty"), at(7, 8));
    let alias = d.get("use").unwrap();
    assert_eq!((alias.pos(), alias.kind_name()), (at(8, 6), "a list"));
    let err = parse("a: *nope\n").unwrap_err();
    assert_eq!((err.pos, err.message.as_str()), (at(1, 4), "unknown alias 'nope'"));
}

#[test]
fn block_scalar_position_is_its_first_content_character() {
    let text = concat!(
        "- rule: r\n  condition: > # was: proc.name = x\n\n    evt.type = execve\n    and proc.nme = y\n",
        "  output: |-\n    out\n  desc: |\n  priority: >\n    INFO",
    );
    let f = file(text);
    let items = root_items(text);
    let cond = items[0].get("condition").unwrap();
    let value = cond.as_str().unwrap();
    assert_eq!(value, "\nevt.type = execve and proc.nme = y\n");
    assert_eq!(cond.pos(), at(4, 5));
    // The comment after `>` is not mistaken for the value.
    let span = ScalarSpan::new(&f, cond);
    assert_eq!(span.locate(value, value.find("proc.nme").unwrap()), at(5, 9));
    assert_eq!(span.locate(value, 1), at(4, 5));
    assert_eq!(items[0].get("output").unwrap().pos(), at(7, 5));
    // No content line: the position stays at the indicator.
    let desc = items[0].get("desc").unwrap();
    assert_eq!((desc.as_str(), desc.pos()), (Some(""), at(8, 9)));
    // A block scalar that ends the file without a newline (libyaml-safer panics here).
    let prio = items[0].get("priority").unwrap();
    assert_eq!((prio.as_str(), prio.pos()), (Some("INFO"), at(10, 5)));
}

#[test]
fn byte_order_mark_crlf_and_wide_characters() {
    let text = "\u{feff}a: é x\r\nb: [ü, \"y\"]\r\nc: >\r\n  z\r\n";
    let f = file(text);
    let docs = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let NodeKind::Map(entries) = &docs[0].kind else { panic!("{:?}", docs[0]) };
    assert_eq!((entries[0].0.as_str(), entries[0].0.pos()), (Some("a"), at(1, 1)));
    let a = docs[0].get("a").unwrap();
    assert_eq!((a.as_str(), a.pos()), (Some("é x"), at(1, 4)));
    assert_eq!(ScalarSpan::new(&f, a).locate("é x", 2), at(1, 6));
    assert_eq!(text.chars().nth(a.mark.index), Some('é'));
    assert_eq!(scalars(docs[0].get("b").unwrap()), [("ü".to_string(), at(2, 5)), ("y".to_string(), at(2, 8))]);
    let c = docs[0].get("c").unwrap();
    assert_eq!((c.as_str(), c.pos()), (Some("z\n"), at(4, 3)));
}

#[test]
fn reader_errors_and_nesting_limit_have_positions() {
    let err = parse("a: b\nc: \"\u{1}\"\n").unwrap_err();
    assert_eq!(err.pos, at(2, 5), "{err:?}");
    assert_eq!(err.message, "control characters are not allowed (#x1)");
    let err = parse("\u{feff}c: \"\u{1}\"\n").unwrap_err();
    assert_eq!(err.pos, at(1, 5), "{err:?}");

    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(parse(&nested(MAX_DEPTH)).is_ok());
    let err = parse(&nested(MAX_DEPTH + 1)).unwrap_err();
    assert_eq!(err.pos, at(1, MAX_DEPTH as u32 + 1), "{err:?}");
    assert!(err.message.contains("nested deeper than 256"), "{err:?}");
}

#[test]
fn documents_comments_and_empty_input() {
    assert!(parse("").unwrap_or_else(|e| panic!("{e}")).is_empty());
    assert!(parse("# only a comment\n").unwrap_or_else(|e| panic!("{e}")).is_empty());
    let docs = parse("a: 1\n---\n- b\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(docs.len(), 2);
    assert_eq!((docs[1].kind_name(), docs[1].pos()), ("a list", at(3, 1)));
}

#[test]
fn every_prefix_of_a_rule_file_parses_or_fails_cleanly() {
    // Cut a file anywhere (an editor saving mid-change, a truncated ConfigMap): parse
    // returns a tree or an error with a position inside the text, never panics.
    let text = concat!(
        "- list: l\n  items: [\n    \"a\", 'b',\n  ]\n- rule: &x r\n  condition: >\n    a and\n",
        "    b\n  output: |\n    o\n  tags: !t [x, {k: v}]\n  alias: *x\n",
    );
    let (mut ok, mut failed) = (0, 0);
    for (i, _) in text.char_indices().chain([(text.len(), ' ')]) {
        match parse(&text[..i]) {
            Ok(_) => ok += 1,
            Err(e) => {
                failed += 1;
                let lines = text[..i].split('\n').count() as u32;
                assert!(e.pos.line >= 1 && e.pos.line <= lines && e.pos.col >= 1, "{i}: {e:?}");
            }
        }
    }
    assert!(ok > 20 && failed > 20, "{ok} parsed, {failed} failed");
}
