//! A small pull cursor over quick-xml events with positions and explicit limits.
//!
//! It never builds a tree: callers walk children with [`Cursor::children`] and take what they need.
//! DTDs are rejected outright, so no entity is ever expanded and no file is ever read.

use crate::error::{Pos, XmlError, XmlErrorKind};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;

/// Explicit limits that turn resource attacks into errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest input document, in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Most elements in one document.
    pub max_elements: usize,
    /// Most `<feature>` elements in one CPU.
    pub max_features: usize,
    /// Longest attribute value or text node, in bytes.
    pub max_value_len: usize,
    /// Most CPUs in one document.
    pub max_cpus: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 << 20,
            max_depth: 64,
            max_elements: 20_000_000,
            max_features: 4096,
            max_value_len: 64 << 10,
            max_cpus: 2_000_000,
        }
    }
}

/// An element start tag with its attributes (already unescaped).
#[derive(Clone, Debug)]
pub struct Elem {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// Byte offset of the `<`.
    pub offset: usize,
    /// Self-closing (`<x/>`): no children, no end tag.
    pub empty: bool,
}

impl Elem {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

pub struct Cursor<'a> {
    src: &'a [u8],
    reader: Reader<&'a [u8]>,
    depth: usize,
    elements: usize,
    pub limits: Limits,
    /// Names of the open elements (for error messages).
    stack: Vec<String>,
    /// Read the input as the content of a container element, the way `virsh cpu-baseline`
    /// wraps its file in `<container>`: text between top-level elements is then allowed.
    pub container: bool,
}

/// The document-wide character rule of the reader: the first control character XML forbids
/// (below 0x20, other than tab, newline and carriage return), as its offset and byte. Checked
/// on the whole input before parsing, here and by the streaming baseline on each part.
pub fn first_forbidden(b: &[u8]) -> Option<(usize, u8)> {
    // Blocks without a forbidden byte are skipped; only the block holding one is searched.
    for (k, c) in b.chunks(64).enumerate() {
        if c.iter().fold(false, |acc, &x| acc | forbidden_byte(x)) {
            if let Some(i) = c.iter().position(|&x| forbidden_byte(x)) {
                return Some((k * 64 + i, c[i]));
            }
        }
    }
    None
}

/// The character rule for one byte: a control character XML forbids. Non-short-circuit `&`:
/// one branch-free expression per byte, so the block tests that use it vectorize (XML has a
/// newline in nearly every block, so a block test of `x < 0x20` alone sent almost every block
/// to the byte-by-byte search).
#[inline]
fn forbidden_byte(x: u8) -> bool {
    (x < 0x20) & (x != b'\t') & (x != b'\n') & (x != b'\r')
}

/// Whether every byte of `b` is ASCII other than a forbidden control character: then `b`
/// passes the character rule ([`utf8_error`] and [`first_forbidden`] find nothing). One
/// branch-free pass, for the common case; anything else takes the two exact checks.
pub fn is_plain_ascii(b: &[u8]) -> bool {
    b.chunks(64).all(|c| !c.iter().fold(false, |acc, &x| acc | (x >= 0x80) | forbidden_byte(x)))
}

/// XML whitespace (the `S` production: space, tab, carriage return, newline).
#[inline]
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The offset of the first byte of `b` that is not part of valid UTF-8 (the reader's other
/// document-wide check, made before [`first_forbidden`]).
pub fn utf8_error(b: &[u8]) -> Option<usize> {
    std::str::from_utf8(b).err().map(|e| e.valid_up_to())
}

fn local(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl<'a> Cursor<'a> {
    /// Validates the input (size, UTF-8, forbidden characters) and opens a cursor.
    pub fn new(src: &'a [u8], limits: Limits) -> Result<Self, XmlError> {
        let at = |offset: usize, kind| XmlError { pos: Pos::locate(src, offset), element: String::new(), kind };
        if src.len() > limits.max_bytes {
            return Err(at(0, XmlErrorKind::TooLarge { what: "input", limit: limits.max_bytes }));
        }
        if !is_plain_ascii(src) {
            if let Some(i) = utf8_error(src) {
                return Err(at(i, XmlErrorKind::InvalidUtf8));
            }
            if let Some((i, b)) = first_forbidden(src) {
                return Err(at(i, XmlErrorKind::ForbiddenChar(b as u32)));
            }
        }
        if src.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(at(0, XmlErrorKind::Empty));
        }
        let mut reader = Reader::from_reader(src);
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
        Ok(Cursor { src, reader, depth: 0, elements: 0, limits, stack: Vec::new(), container: false })
    }

    fn pos(&self) -> usize {
        self.reader.buffer_position() as usize
    }

    /// An error at `offset` inside the innermost open element.
    pub fn err_at(&self, offset: usize, kind: XmlErrorKind) -> XmlError {
        XmlError { pos: Pos::locate(self.src, offset), element: self.stack.last().cloned().unwrap_or_default(), kind }
    }

    /// An error about element `e` (located at its start tag).
    pub fn err_elem(&self, e: &Elem, kind: XmlErrorKind) -> XmlError {
        XmlError { pos: Pos::locate(self.src, e.offset), element: e.name.clone(), kind }
    }

    fn start(&mut self, b: &BytesStart, offset: usize, empty: bool) -> Result<Elem, XmlError> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(
                self.err_at(offset, XmlErrorKind::TooMany { what: "elements", limit: self.limits.max_elements })
            );
        }
        let name = local(b.name().as_ref());
        let mut attrs: Vec<(String, String)> = Vec::new();
        // quick-xml's own duplicate check is quadratic in the number of attributes (a 1.6 MB
        // start tag took 44 s) and does not name the attribute; `first_duplicate` does both.
        for a in b.attributes().with_checks(false) {
            let a = a.map_err(|e| match e {
                quick_xml::events::attributes::AttrError::Duplicated(..) => XmlError {
                    pos: Pos::locate(self.src, offset),
                    element: name.clone(),
                    kind: XmlErrorKind::DuplicateAttribute(String::new()),
                },
                other => XmlError {
                    pos: Pos::locate(self.src, offset),
                    element: name.clone(),
                    kind: XmlErrorKind::Syntax(other.to_string()),
                },
            })?;
            let key = local(a.key.as_ref());
            if a.value.len() > self.limits.max_value_len {
                return Err(XmlError {
                    pos: Pos::locate(self.src, offset),
                    element: name.clone(),
                    kind: XmlErrorKind::TooLarge { what: "attribute value", limit: self.limits.max_value_len },
                });
            }
            let value = a.unescape_value().and_then(forbid_referenced_controls).map_err(|e| XmlError {
                pos: Pos::locate(self.src, offset),
                element: name.clone(),
                kind: entity_error(e),
            })?;
            attrs.push((key, value.into_owned()));
        }
        if let Some(key) = first_duplicate(&attrs) {
            return Err(XmlError {
                pos: Pos::locate(self.src, offset),
                element: name,
                kind: XmlErrorKind::DuplicateAttribute(key.to_string()),
            });
        }
        if !empty {
            if self.depth + 1 > self.limits.max_depth {
                return Err(self.err_at(offset, XmlErrorKind::TooDeep { limit: self.limits.max_depth }));
            }
            self.depth += 1;
            self.stack.push(name.clone());
        }
        Ok(Elem { name, attrs, offset, empty })
    }

    /// The next start tag, text or end tag. `None` at the end of the input.
    fn next(&mut self) -> Result<Option<Node>, XmlError> {
        loop {
            let before = self.pos();
            let ev = self.reader.read_event().map_err(|e| {
                let off = (self.reader.error_position() as usize).max(before);
                self.err_at(off, XmlErrorKind::Syntax(e.to_string()))
            })?;
            match ev {
                Event::Start(b) => return self.start(&b, before, false).map(|e| Some(Node::Start(e))),
                Event::Empty(b) => return self.start(&b, before, true).map(|e| Some(Node::Start(e))),
                Event::End(_) => {
                    if self.depth == 0 {
                        return Err(self.err_at(before, XmlErrorKind::Syntax("end tag without a start tag".into())));
                    }
                    self.depth -= 1;
                    self.stack.pop();
                    return Ok(Some(Node::End));
                }
                Event::Text(t) => {
                    if t.len() > self.limits.max_value_len && !t.iter().all(|b| b.is_ascii_whitespace()) {
                        return Err(self.err_at(
                            before,
                            XmlErrorKind::TooLarge { what: "text", limit: self.limits.max_value_len },
                        ));
                    }
                    let s = t
                        .unescape()
                        .and_then(forbid_referenced_controls)
                        .map_err(|e| self.err_at(before, entity_error(e)))?;
                    return Ok(Some(Node::Text(s.into_owned())));
                }
                Event::CData(t) => {
                    if t.len() > self.limits.max_value_len {
                        return Err(self.err_at(
                            before,
                            XmlErrorKind::TooLarge { what: "text", limit: self.limits.max_value_len },
                        ));
                    }
                    return Ok(Some(Node::Text(String::from_utf8_lossy(&t).into_owned())));
                }
                Event::DocType(_) => return Err(self.err_at(before, XmlErrorKind::DtdNotAllowed)),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => continue,
                Event::Eof => {
                    if let Some(open) = self.stack.last() {
                        return Err(self.err_at(
                            self.src.len(),
                            XmlErrorKind::Syntax(format!("unexpected end of document: <{open}> is not closed")),
                        ));
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// The top-level elements of the document, one after the other (several roots are allowed:
    /// `virsh cpu-baseline` wraps its input in a container element). Text outside elements is an
    /// error.
    pub fn roots(&mut self, mut f: impl FnMut(&mut Self, Elem) -> Result<(), XmlError>) -> Result<usize, XmlError> {
        let mut n = 0;
        loop {
            let before = self.pos();
            match self.next()? {
                None => return Ok(n),
                Some(Node::Start(e)) => {
                    n += 1;
                    self.run_child(e, &mut f)?;
                }
                Some(Node::Text(t)) => {
                    if !self.container && !t.trim().is_empty() {
                        return Err(self.err_at(before, XmlErrorKind::Syntax("text outside of any element".into())));
                    }
                }
                Some(Node::End) => {}
            }
        }
    }

    fn run_child(
        &mut self,
        e: Elem,
        f: &mut impl FnMut(&mut Self, Elem) -> Result<(), XmlError>,
    ) -> Result<(), XmlError> {
        let empty = e.empty;
        let base = self.depth;
        f(self, e)?;
        if !empty {
            // Skip what the callback did not consume, up to and including the end tag.
            while self.depth >= base {
                if self.next()?.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Calls `f` for every direct child element of `parent` (which must be the element last
    /// returned to the caller). Children `f` does not consume are skipped.
    pub fn children(
        &mut self,
        parent: &Elem,
        mut f: impl FnMut(&mut Self, Elem) -> Result<(), XmlError>,
    ) -> Result<(), XmlError> {
        if parent.empty {
            return Ok(());
        }
        let base = self.depth;
        while self.depth >= base {
            match self.next()? {
                None => break,
                Some(Node::Start(e)) => self.run_child(e, &mut f)?,
                Some(Node::Text(_)) | Some(Node::End) => {}
            }
        }
        Ok(())
    }

    /// The text content of `elem` (child elements are skipped, their text included, like
    /// XPath `string()`), consuming the element.
    pub fn text(&mut self, elem: &Elem) -> Result<String, XmlError> {
        let mut out = String::new();
        if elem.empty {
            return Ok(out);
        }
        let base = self.depth;
        while self.depth >= base {
            match self.next()? {
                None => break,
                Some(Node::Text(t)) => {
                    out.push_str(&t);
                    if out.len() > self.limits.max_value_len {
                        return Err(self.err_elem(
                            elem,
                            XmlErrorKind::TooLarge { what: "text", limit: self.limits.max_value_len },
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        Ok(out)
    }

    /// Byte offset of the cursor (just after the last event read).
    pub fn offset(&self) -> usize {
        self.pos()
    }

    pub fn source(&self) -> &'a [u8] {
        self.src
    }
}

/// The first attribute name that repeats an earlier one: a linear scan for the usual handful of
/// attributes, a hash set beyond (linear time however many attributes a hostile tag carries).
fn first_duplicate(attrs: &[(String, String)]) -> Option<&str> {
    if attrs.len() <= 16 {
        (1..attrs.len()).find(|&i| attrs[..i].iter().any(|(k, _)| *k == attrs[i].0)).map(|i| attrs[i].0.as_str())
    } else {
        let mut seen = std::collections::HashSet::with_capacity(attrs.len());
        attrs.iter().map(|(k, _)| k.as_str()).find(|k| !seen.insert(*k))
    }
}

enum Node {
    Start(Elem),
    Text(String),
    End,
}

/// Character references must name a character XML allows (XML 1.0 production [66], as libxml2
/// checks): `&#30;` would smuggle a C0 control past the raw-byte check of [`Cursor::new`], and the
/// writer would then emit a document nobody can read back. Only unescaped (owned) values can
/// hold one.
fn forbid_referenced_controls(s: Cow<'_, str>) -> Result<Cow<'_, str>, quick_xml::Error> {
    if let Cow::Owned(o) = &s {
        if let Some(c) = o.chars().find(|&c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')) {
            return Err(quick_xml::Error::Escape(quick_xml::escape::EscapeError::InvalidCharRef(
                quick_xml::escape::ParseCharRefError::IllegalCharacter(c as u32),
            )));
        }
    }
    Ok(s)
}

fn entity_error(e: quick_xml::Error) -> XmlErrorKind {
    match e {
        quick_xml::Error::Escape(quick_xml::escape::EscapeError::InvalidCharRef(
            quick_xml::escape::ParseCharRefError::IllegalCharacter(c),
        )) => XmlErrorKind::ForbiddenChar(c),
        quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
            XmlErrorKind::UnknownEntity(name)
        }
        other => XmlErrorKind::Syntax(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_character_rule_finds_the_first_forbidden_byte_in_any_block() {
        let mut b = vec![b'a'; 300];
        b[10] = b'\t';
        b[70] = b'\n';
        b[71] = b'\r';
        assert_eq!(first_forbidden(&b), None);
        b[200] = 0x1f;
        b[250] = 0;
        assert_eq!(first_forbidden(&b), Some((200, 0x1f)));
        assert_eq!(first_forbidden(&b[..200]), None);
        assert_eq!(utf8_error(&b), None);
        assert_eq!(utf8_error("é\u{80}".as_bytes()), None);
        assert_eq!(utf8_error(b"ab\xC3"), Some(2));
        assert_eq!(utf8_error(b"ab\xFFcd"), Some(2));
    }

    /// The one-pass test says "plain" only where both exact checks find nothing, and says it
    /// for every plain ASCII input, whatever the block a byte falls in.
    #[test]
    fn plain_ascii_is_exactly_ascii_passing_the_character_rule() {
        for len in [0, 1, 63, 64, 65, 200] {
            for at in 0..len {
                for x in 0..=255u8 {
                    let mut b = vec![b'a'; len];
                    b[at] = x;
                    let exact = x < 0x80 && utf8_error(&b).is_none() && first_forbidden(&b).is_none();
                    assert_eq!(is_plain_ascii(&b), exact, "byte {x:#x} at {at} of {len}");
                }
            }
            assert!(is_plain_ascii(&vec![b'\n'; len]));
        }
    }
}
