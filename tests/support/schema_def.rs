//! The parser of `src/messages/schema.def`, shared by the generator
//! (tests/messages_codegen.rs) and the oracle test (tests/messages_oracle.rs).
#![allow(dead_code)]

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Vers {
    pub(crate) lo: i16,
    pub(crate) hi: i16,
}

impl Vers {
    pub(crate) const NONE: Vers = Vers { lo: 1, hi: 0 };

    pub(crate) fn parse(s: &str) -> Result<Vers, String> {
        let s = s.trim_start_matches('v');
        if s == "none" {
            return Ok(Vers::NONE);
        }
        if let Some(lo) = s.strip_suffix('+') {
            let lo = lo.parse().map_err(|_| format!("bad versions {s}"))?;
            return Ok(Vers { lo, hi: i16::MAX });
        }
        if let Some((lo, hi)) = s.split_once('-') {
            let lo = lo.parse().map_err(|_| format!("bad versions {s}"))?;
            let hi = hi.parse().map_err(|_| format!("bad versions {s}"))?;
            return Ok(Vers { lo, hi });
        }
        let v = s.parse().map_err(|_| format!("bad versions {s}"))?;
        Ok(Vers { lo: v, hi: v })
    }

    pub(crate) fn is_none(&self) -> bool {
        self.lo > self.hi
    }

    pub(crate) fn intersect(&self, o: Vers) -> Vers {
        Vers {
            lo: self.lo.max(o.lo),
            hi: self.hi.min(o.hi),
        }
    }

    /// A condition on `version`, simplified for the versions `within` the
    /// message has: `None` when always true.
    pub(crate) fn cond(&self, within: Vers) -> Option<String> {
        let v = self.intersect(within);
        if v.is_none() {
            return Some("false".into());
        }
        let lo = v.lo > within.lo;
        let hi = v.hi < within.hi;
        match (lo, hi) {
            (false, false) => None,
            (true, false) => Some(format!("version >= {}", v.lo)),
            (false, true) => Some(format!("version <= {}", v.hi)),
            (true, true) if v.lo == v.hi => Some(format!("version == {}", v.lo)),
            (true, true) => Some(format!("({}..={}).contains(&version)", v.lo, v.hi)),
        }
    }

    pub(crate) fn doc(&self) -> String {
        if self.is_none() {
            "none".into()
        } else if self.hi == i16::MAX {
            format!("{}+", self.lo)
        } else if self.lo == self.hi {
            format!("{}", self.lo)
        } else {
            format!("{}-{}", self.lo, self.hi)
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ty {
    Prim(String),
    Array(Box<Ty>),
    Struct(String),
}

impl Ty {
    pub(crate) fn parse(s: &str) -> Ty {
        if let Some(inner) = s.strip_prefix("[]") {
            return Ty::Array(Box::new(Ty::parse(inner)));
        }
        match s {
            "bool" | "int8" | "int16" | "uint16" | "int32" | "uint32" | "int64" | "float64"
            | "string" | "bytes" | "records" | "uuid" => Ty::Prim(s.into()),
            _ => Ty::Struct(s.into()),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) ty: Ty,
    pub(crate) versions: Vers,
    pub(crate) nullable: Vers,
    pub(crate) tag: Option<i32>,
    pub(crate) tagged: Vers,
    pub(crate) flex: Option<Vers>,
    pub(crate) default: Option<String>,
    pub(crate) entity: Option<String>,
    pub(crate) ignorable: bool,
    pub(crate) about: String,
    pub(crate) fields: Vec<Field>,
}

#[derive(Clone, Debug)]
pub(crate) struct Common {
    pub(crate) name: String,
    pub(crate) fields: Vec<Field>,
}

#[derive(Clone, Debug)]
pub(crate) struct Msg {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) key: Option<i16>,
    pub(crate) versions: Vers,
    pub(crate) flex: Vers,
    pub(crate) unstable: bool,
    pub(crate) fields: Vec<Field>,
    pub(crate) commons: Vec<Common>,
}

pub(crate) struct Lines<'a> {
    pub(crate) lines: Vec<(usize, &'a str)>,
    pub(crate) pos: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn next(&mut self) -> Option<(usize, &'a str)> {
        let l = self.lines.get(self.pos).copied();
        self.pos += 1;
        l
    }
}

pub(crate) fn parse(text: &str) -> Result<Vec<Msg>, String> {
    let mut lines = Lines {
        lines: text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect(),
        pos: 0,
    };
    let mut out = Vec::new();
    while let Some((n, line)) = lines.next() {
        let (head, _) = split_about(line);
        let words: Vec<&str> = head.split_whitespace().collect();
        if words.first() != Some(&"message") || words.last() != Some(&"{") || words.len() < 4 {
            return Err(format!("line {n}: expected `message <Name> <kind> ... {{`"));
        }
        let mut msg = Msg {
            name: words[1].into(),
            kind: words[2].into(),
            key: None,
            versions: Vers::NONE,
            flex: Vers::NONE,
            unstable: false,
            fields: Vec::new(),
            commons: Vec::new(),
        };
        for w in &words[3..words.len() - 1] {
            match w.split_once('=') {
                Some(("key", k)) => {
                    msg.key = Some(k.parse().map_err(|_| format!("line {n}: key"))?)
                }
                Some(("versions", v)) => msg.versions = Vers::parse(v)?,
                Some(("flex", v)) => msg.flex = Vers::parse(v)?,
                None if *w == "unstable" => msg.unstable = true,
                _ => return Err(format!("line {n}: unknown attribute {w}")),
            }
        }
        loop {
            let Some((n, line)) = lines.next() else {
                return Err(format!("message {} is not closed", msg.name));
            };
            if line == "}" {
                break;
            }
            if let Some(rest) = line.strip_prefix("common ") {
                let words: Vec<&str> = rest.split_whitespace().collect();
                if words.len() != 3 || words[2] != "{" {
                    return Err(format!("line {n}: expected `common <Name> v<versions> {{`"));
                }
                let fields = parse_fields(&mut lines)?;
                msg.commons.push(Common {
                    name: words[0].into(),
                    fields,
                });
                continue;
            }
            lines.pos -= 1;
            let f = parse_field(&mut lines)?;
            msg.fields.push(f);
        }
        out.push(msg);
    }
    Ok(out)
}

pub(crate) fn split_about(line: &str) -> (&str, &str) {
    match line.find("//") {
        Some(i) => (line[..i].trim(), line[i + 2..].trim()),
        None => (line, ""),
    }
}

pub(crate) fn parse_fields(lines: &mut Lines<'_>) -> Result<Vec<Field>, String> {
    let mut fields = Vec::new();
    loop {
        let Some((_, line)) = lines.next() else {
            return Err("unclosed block".into());
        };
        if line == "}" {
            return Ok(fields);
        }
        lines.pos -= 1;
        fields.push(parse_field(lines)?);
    }
}

pub(crate) fn parse_field(lines: &mut Lines<'_>) -> Result<Field, String> {
    let (n, line) = lines.next().ok_or("missing field")?;
    let (head, about) = split_about(line);
    let mut words: Vec<&str> = head.split_whitespace().collect();
    let opens = words.last() == Some(&"{");
    if opens {
        words.pop();
    }
    if words.len() < 3 {
        return Err(format!("line {n}: expected `<name> <type> v<versions>`"));
    }
    let mut f = Field {
        name: words[0].into(),
        ty: Ty::parse(words[1]),
        versions: Vers::parse(words[2])?,
        nullable: Vers::NONE,
        tag: None,
        tagged: Vers::NONE,
        flex: None,
        default: None,
        entity: None,
        ignorable: false,
        about: about.into(),
        fields: Vec::new(),
    };
    for w in &words[3..] {
        match w.split_once('=') {
            Some(("null", v)) => f.nullable = Vers::parse(v)?,
            Some(("tag", t)) => f.tag = Some(t.parse().map_err(|_| format!("line {n}: tag"))?),
            Some(("tagged", v)) => f.tagged = Vers::parse(v)?,
            Some(("flex", v)) => f.flex = Some(Vers::parse(v)?),
            Some(("default", d)) => f.default = Some(d.into()),
            Some(("entity", e)) => f.entity = Some(e.into()),
            None if *w == "ignorable" => f.ignorable = true,
            None if *w == "mapkey" => {}
            _ => return Err(format!("line {n}: unknown attribute {w}")),
        }
    }
    if opens {
        f.fields = parse_fields(lines)?;
    }
    Ok(f)
}
