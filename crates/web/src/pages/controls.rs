//! NHS.UK form controls with their labels, hints and error messages wired by id, so every
//! control is announced with its label and its error (WCAG 1.3.1, 3.3.1) and each page needs
//! one line per field.

use crate::form::FormError;
use maud::{Markup, html};

fn error_of<'e>(errors: &'e [FormError], id: &str) -> Option<&'e FormError> {
    errors.iter().find(|e| e.field == id)
}

fn error_message(id: &str, e: Option<&FormError>) -> Markup {
    html! {
        @if let Some(e) = e {
            span."nhsuk-error-message" id={ (id) "-error" } {
                span."nhsuk-u-visually-hidden" { "Error:" } " " (e.message)
            }
        }
    }
}

fn described_by(id: &str, hint: Option<&str>, e: Option<&FormError>) -> Option<String> {
    let mut parts = Vec::new();
    if hint.is_some() {
        parts.push(format!("{id}-hint"));
    }
    if e.is_some() {
        parts.push(format!("{id}-error"));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// A text input.
pub struct Text<'a> {
    pub id: &'static str,
    pub name: &'static str,
    pub label: &'a str,
    pub hint: Option<&'a str>,
    pub value: &'a str,
    pub width_class: &'static str,
    pub inputmode: Option<&'static str>,
    pub autocomplete: &'static str,
}

pub fn text(t: Text<'_>, errors: &[FormError]) -> Markup {
    let e = error_of(errors, t.id);
    html! {
        div.nhsuk-form-group."nhsuk-form-group--error"[e.is_some()] {
            label.nhsuk-label for=(t.id) { (t.label) }
            @if let Some(h) = t.hint { div.nhsuk-hint id={ (t.id) "-hint" } { (h) } }
            (error_message(t.id, e))
            input.nhsuk-input.(t.width_class)."nhsuk-input--error"[e.is_some()]
                id=(t.id) name=(t.name) type="text" value=(t.value)
                inputmode=[t.inputmode] autocomplete=(t.autocomplete) spellcheck="false"
                aria-describedby=[described_by(t.id, t.hint, e)];
        }
    }
}

/// A select; `options` are (value, label), the first usually "any".
pub fn select(
    id: &'static str,
    label: &str,
    options: &[(String, String)],
    selected: &str,
    errors: &[FormError],
) -> Markup {
    let e = error_of(errors, id);
    html! {
        div.nhsuk-form-group."nhsuk-form-group--error"[e.is_some()] {
            label.nhsuk-label for=(id) { (label) }
            (error_message(id, e))
            select.nhsuk-select."nhsuk-select--error"[e.is_some()] id=(id) name=(id)
                aria-describedby=[described_by(id, None, e)] {
                @for (v, l) in options {
                    option value=(v) selected[v == selected] { (l) }
                }
            }
        }
    }
}

/// A group of checkboxes under one legend; ids are `{name}-{value}`.
pub fn checkboxes(
    name: &'static str,
    legend: &str,
    options: &[(String, String)],
    checked: &[String],
    errors: &[FormError],
) -> Markup {
    let first = options
        .first()
        .map(|(v, _)| format!("{name}-{v}"))
        .unwrap_or_default();
    let e = error_of(errors, &first);
    html! {
        div.nhsuk-form-group."nhsuk-form-group--error"[e.is_some()] {
            fieldset.nhsuk-fieldset {
                legend."nhsuk-fieldset__legend"."nhsuk-fieldset__legend--s" { (legend) }
                (error_message(&first, e))
                div.nhsuk-checkboxes."nhsuk-checkboxes--small" {
                    @for (v, l) in options {
                        @let id = format!("{name}-{v}");
                        div."nhsuk-checkboxes__item" {
                            input."nhsuk-checkboxes__input" id=(id) name=(name) type="checkbox" value=(v)
                                checked[checked.iter().any(|c| c == v)];
                            label.nhsuk-label."nhsuk-checkboxes__label" for=(id) { (l) }
                        }
                    }
                }
            }
        }
    }
}

/// One yes/no checkbox.
pub fn tick(id: &'static str, label: &str, on: bool) -> Markup {
    html! {
        div.nhsuk-checkboxes."nhsuk-checkboxes--small" {
            div."nhsuk-checkboxes__item" {
                input."nhsuk-checkboxes__input" id=(id) name=(id) type="checkbox" value="1" checked[on];
                label.nhsuk-label."nhsuk-checkboxes__label" for=(id) { (label) }
            }
        }
    }
}

/// Hidden fields carrying form pairs into another form.
pub fn hidden(pairs: &[(&'static str, String)]) -> Markup {
    html! {
        @for (k, v) in pairs { input type="hidden" name=(k) value=(v); }
    }
}

/// `(value, label)` pairs for a select or checkbox group, with an optional "any" first.
pub fn options<T: Copy>(
    any: Option<&str>,
    all: &[T],
    value: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Vec<(String, String)> {
    any.map(|a| (String::new(), a.to_string()))
        .into_iter()
        .chain(
            all.iter()
                .map(|&t| (value(t).to_string(), label(t).to_string())),
        )
        .collect()
}
