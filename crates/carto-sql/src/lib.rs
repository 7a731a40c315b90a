//! placeholder

pub mod batch;
pub mod copy;

pub use batch::{AsyncBatchClient, BatchClient, BatchJob, JobQuery, JobStatus, WaitOptions};
pub use copy::{AsyncCopyClient, CopyClient, CopyFromOptions, CopyFromResult, CopyToOptions};
