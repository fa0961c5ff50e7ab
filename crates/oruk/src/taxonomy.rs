//! The fixed taxonomies a course's facets are published under (HSDS `taxonomy` and
//! `taxonomy_term`), with ids derived from their names so they are the same on every node and
//! in every release that keeps the name.

use crate::{NAMESPACE, put};
use prospectus_model::{Attendance, Category, Course, DeliveryMode, Level, Support};
use serde_json::{Map, Value};
use uuid::Uuid;

/// One taxonomy: a facet of a course.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taxonomy {
    /// Stable machine name; part of every id below it.
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

/// One term of a taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    pub taxonomy: Taxonomy,
    /// The model's machine name for the value (`esol`, `level-2`, …).
    pub key: &'static str,
    pub label: &'static str,
}

pub const CATEGORY: Taxonomy = Taxonomy {
    key: "prospectus-category",
    name: "Prospectus course category",
    description: "What an adult-education course is about.",
};
pub const LEVEL: Taxonomy = Taxonomy {
    key: "prospectus-level",
    name: "Qualification level",
    description: "The qualification level of a course (Entry, Level 1-7, or non-accredited).",
};
pub const DELIVERY: Taxonomy = Taxonomy {
    key: "prospectus-delivery",
    name: "Delivery mode",
    description: "How a course is taught: in a classroom, online, or blended.",
};
pub const ATTENDANCE: Taxonomy = Taxonomy {
    key: "prospectus-attendance",
    name: "Attendance pattern",
    description: "When a course meets: daytime, evening or weekend (derived from its runs).",
};
pub const SUPPORT: Taxonomy = Taxonomy {
    key: "prospectus-support",
    name: "Learner support",
    description: "Support a nervous or disabled learner can count on.",
};
pub const FOCUS: Taxonomy = Taxonomy {
    key: "prospectus-focus",
    name: "Course focus",
    description: "Courses designed for particular needs.",
};

/// Every taxonomy, in a fixed order.
pub const TAXONOMIES: [Taxonomy; 6] = [CATEGORY, LEVEL, DELIVERY, ATTENDANCE, SUPPORT, FOCUS];

const MENTAL_HEALTH: Term = Term {
    taxonomy: FOCUS,
    key: "mental-health",
    label: "Designed for people with anxiety, low mood or other mental-health needs",
};

impl Taxonomy {
    pub fn id(&self) -> Uuid {
        Uuid::new_v5(&NAMESPACE, format!("taxonomy/{}", self.key).as_bytes())
    }

    /// This taxonomy's terms, in the model's order.
    pub fn terms(&self) -> Vec<Term> {
        fn of<T: Copy>(
            tax: Taxonomy,
            all: &[T],
            key: fn(T) -> &'static str,
            label: fn(T) -> &'static str,
        ) -> Vec<Term> {
            all.iter()
                .map(|v| Term {
                    taxonomy: tax,
                    key: key(*v),
                    label: label(*v),
                })
                .collect()
        }
        match self.key {
            k if k == CATEGORY.key => of(*self, Category::ALL, Category::as_str, Category::label),
            k if k == LEVEL.key => of(*self, Level::ALL, Level::as_str, Level::label),
            k if k == DELIVERY.key => of(
                *self,
                DeliveryMode::ALL,
                DeliveryMode::as_str,
                DeliveryMode::label,
            ),
            k if k == ATTENDANCE.key => of(
                *self,
                Attendance::ALL,
                Attendance::as_str,
                Attendance::label,
            ),
            k if k == SUPPORT.key => of(*self, Support::ALL, Support::as_str, Support::label),
            k if k == FOCUS.key => vec![MENTAL_HEALTH],
            _ => Vec::new(),
        }
    }

    /// HSDS `taxonomy`, with its terms when `with_terms`.
    pub fn to_json(&self, with_terms: bool) -> Value {
        let mut m = Map::new();
        put(&mut m, "id", self.id().to_string());
        put(&mut m, "name", self.name);
        put(&mut m, "description", self.description);
        put(&mut m, "version", "1");
        if with_terms {
            let terms: Vec<Value> = self.terms().iter().map(Term::to_json).collect();
            put(&mut m, "taxonomy_terms", terms);
        }
        Value::Object(m)
    }
}

impl Term {
    pub fn id(&self) -> Uuid {
        Uuid::new_v5(
            &NAMESPACE,
            format!("taxonomy_term/{}/{}", self.taxonomy.key, self.key).as_bytes(),
        )
    }

    /// HSDS `taxonomy_term`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "id", self.id().to_string());
        put(&mut m, "name", self.label);
        put(&mut m, "description", self.label);
        put(&mut m, "taxonomy", self.taxonomy.name);
        put(&mut m, "taxonomy_id", self.taxonomy.id().to_string());
        put(&mut m, "term", self.key);
        Value::Object(m)
    }
}

/// Every term of every taxonomy.
pub fn all_terms() -> Vec<Term> {
    TAXONOMIES.iter().flat_map(|t| t.terms()).collect()
}

/// The taxonomy with this id.
pub fn taxonomy_by_id(id: Uuid) -> Option<Taxonomy> {
    TAXONOMIES.iter().copied().find(|t| t.id() == id)
}

/// The term with this id.
pub fn term_by_id(id: Uuid) -> Option<Term> {
    all_terms().into_iter().find(|t| t.id() == id)
}

/// The terms describing a course: categories, level, delivery, attendance, support, focus.
pub fn course_terms(c: &Course) -> Vec<Term> {
    let mut out: Vec<Term> = c
        .categories
        .iter()
        .map(|v| Term {
            taxonomy: CATEGORY,
            key: v.as_str(),
            label: v.label(),
        })
        .collect();
    out.push(Term {
        taxonomy: LEVEL,
        key: c.level.as_str(),
        label: c.level.label(),
    });
    out.push(Term {
        taxonomy: DELIVERY,
        key: c.delivery.as_str(),
        label: c.delivery.label(),
    });
    out.extend(c.attendance().into_iter().map(|v| Term {
        taxonomy: ATTENDANCE,
        key: v.as_str(),
        label: v.label(),
    }));
    out.extend(c.support.iter().map(|v| Term {
        taxonomy: SUPPORT,
        key: v.as_str(),
        label: v.label(),
    }));
    if c.mental_health_focus {
        out.push(MENTAL_HEALTH);
    }
    out
}
