//! Attribute rules shared by every reader of libvirt XML (CPU documents, CPUID dumps, the CPU
//! map): the errors for a missing or malformed attribute, and the one reader of a `<cpuid>` or
//! `<msr>` item.

use super::cursor::{Cursor, Elem};
use super::num::parse_u32_c;
use crate::cpuid::{CpuidKey, Regs};
use crate::error::{XmlError, XmlErrorKind};

/// The error for attribute `attribute` of `e` holding `value`, which is not `expected`.
pub fn invalid(c: &Cursor, e: &Elem, attribute: &str, value: &str, expected: &'static str) -> XmlError {
    c.err_elem(e, XmlErrorKind::InvalidValue { attribute: attribute.into(), value: value.into(), expected })
}

/// The value of the required attribute `name` of `e`.
pub fn required<'e>(c: &Cursor, e: &'e Elem, name: &'static str) -> Result<&'e str, XmlError> {
    e.attr(name).ok_or_else(|| c.err_elem(e, XmlErrorKind::MissingAttribute(name)))
}

/// A 32-bit register value in C notation (`virXMLPropUInt(..., 0, ...)`); 0 when absent and not
/// required.
fn register(c: &Cursor, e: &Elem, name: &'static str, required: bool) -> Result<u32, XmlError> {
    match e.attr(name) {
        None if required => Err(c.err_elem(e, XmlErrorKind::MissingAttribute(name))),
        None => Ok(0),
        Some(v) => parse_u32_c(v).ok_or_else(|| invalid(c, e, name, v, "a 32-bit number in C notation")),
    }
}

/// One CPUID item as libvirt's `x86ParseCPUID` / `x86ParseMSR` read it, in a CPUID dump and in
/// the map's feature definitions alike: `<cpuid eax_in ecx_in eax ebx ecx edx>` (only `eax_in`
/// required) or `<msr index edx eax>` (all required; an MSR's value sits in the EAX and EDX
/// slots). Any other element is not an item (`None`).
pub fn cpuid_item(c: &Cursor, e: &Elem) -> Result<Option<(CpuidKey, Regs)>, XmlError> {
    let reg = |name, required| register(c, e, name, required);
    Ok(match e.name.as_str() {
        "cpuid" => {
            let key = CpuidKey::Cpuid { leaf: reg("eax_in", true)?, subleaf: reg("ecx_in", false)? };
            Some((key, [reg("eax", false)?, reg("ebx", false)?, reg("ecx", false)?, reg("edx", false)?]))
        }
        "msr" => Some((CpuidKey::Msr { index: reg("index", true)? }, [reg("eax", true)?, 0, 0, reg("edx", true)?])),
        _ => None,
    })
}
