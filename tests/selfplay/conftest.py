"""One torch thread: on a busy small machine, torch's spinning worker threads slow these
small networks down by orders of magnitude."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
