"""Write ``student-8.safetensors`` beside this file: a student trained by your own code, outside the harness.

Run: python examples/custom/save_student.py   (then: harness run examples/custom/suite.yaml)
"""

from pathlib import Path

import torch
from my_models import breast_cancer, wide_mlp
from safetensors.torch import save_file

HERE = Path(__file__).parent


def main() -> Path:
    data = breast_cancer(seed=0)
    torch.manual_seed(0)
    model = wide_mlp(data.input_shape, data.num_classes, width=8, depth=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(model(data.x_train), data.y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = HERE / "student-8.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    return path


if __name__ == "__main__":
    print(main())
