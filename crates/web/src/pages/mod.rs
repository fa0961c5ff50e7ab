//! The pages, one module each, over a shared layout and NHS.UK form controls.

mod controls;
mod course;
mod layout;
mod overview;
mod search;
mod sheet;

pub use course::course_page;
pub use layout::page;
pub use overview::overview_page;
pub use search::search_page;
pub use sheet::sheet_page;
