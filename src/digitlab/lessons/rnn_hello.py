"""Lesson `rnn-hello` (seed 003, section 11 "RNN 循环神经网络", 11.1-11.3): learn to turn "hello" into "ohlol".

A sequence of 5 characters goes in, one character per time step, and at each step the network must answer the
matching character of "ohlol". The alphabet is idx2char = ['e', 'h', 'l', 'o'], so "hello" is [1, 0, 2, 2, 3]
and "ohlol" is [3, 1, 2, 3, 2]. Three versions, as the course builds them:
  1. `RNNCell`, the loop over time written out: one-hot input (4), hidden state of 4 = the 4 class scores;
  2. `nn.RNN`, which runs the loop itself; here with 2 layers and batch_first=True (batch, seq, features);
  3. `Embedding` (index -> dense vector of 10) + 2-layer RNN (hidden 8) + Linear(8 -> 4).
Each prints the predicted string per epoch; Adam (lr 0.1, 0.1, 0.05), cross-entropy, 15 epochs.
"""

from __future__ import annotations

import torch

from digitlab.lessons.base import Board, figure

idx2char = ["e", "h", "l", "o"]
x_data = [1, 0, 2, 2, 3]  # hello
y_data = [3, 1, 2, 3, 2]  # ohlol
one_hot_lookup = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
input_size = 4
hidden_size = 4
batch_size = 1
seq_len = 5


class CellModel(torch.nn.Module):
    """11.1: one RNNCell; the caller loops over the sequence and carries the hidden state."""

    def __init__(self, input_size, hidden_size, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.rnncell = torch.nn.RNNCell(input_size=self.input_size, hidden_size=self.hidden_size)

    def forward(self, input, hidden):  # noqa: A002  (the course's names)
        hidden = self.rnncell(input, hidden)  # h_t = tanh(W_ih x_t + W_hh h_{t-1} + b)
        return hidden

    def init_hidden(self, device):
        return torch.zeros(self.batch_size, self.hidden_size, device=device)  # h_0: all zeros


class RNNModel(torch.nn.Module):
    """11.2: nn.RNN runs the whole sequence; several layers stacked, batch first."""

    def __init__(self, input_size, hidden_size, batch_size, num_layers=2):
        super().__init__()
        self.num_layers = num_layers
        self.batch_size = batch_size
        self.hidden_size = hidden_size
        self.rnn = torch.nn.RNN(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                                batch_first=True)

    def forward(self, input):  # noqa: A002
        hidden = torch.zeros(self.num_layers, self.batch_size, self.hidden_size, device=input.device)
        out, _ = self.rnn(input, hidden)  # out: (batch, seq_len, hidden), the last layer at every step
        return out.reshape(-1, self.hidden_size)  # (batch * seq_len, hidden): one row of scores per character


class EmbeddingModel(torch.nn.Module):
    """11.3: characters as learned dense vectors instead of one-hot, then RNN, then a linear layer."""

    def __init__(self, num_class=4, embedding_size=10, hidden_size=8, num_layers=2):
        super().__init__()
        self.num_class = num_class
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.emb = torch.nn.Embedding(input_size, embedding_size)  # index (0..3) -> vector of 10
        self.rnn = torch.nn.RNN(input_size=embedding_size, hidden_size=hidden_size, num_layers=num_layers,
                                batch_first=True)
        self.fc = torch.nn.Linear(hidden_size, num_class)

    def forward(self, x):
        hidden = torch.zeros(self.num_layers, x.size(0), self.hidden_size, device=x.device)
        x = self.emb(x)  # (batch, seq_len) -> (batch, seq_len, embedding_size)
        x, _ = self.rnn(x, hidden)
        x = self.fc(x)
        return x.view(-1, self.num_class)


def run(board: Board, epochs: int = 15) -> dict:
    p = board.print
    device = board.device
    losses: dict[str, list[float]] = {}
    final: dict[str, str] = {}
    criterion = torch.nn.CrossEntropyLoss()

    # ---- 11.1 RNNCell: one-hot input (seq_len, batch, input_size), labels (seq_len, 1)
    p("11.1 RNNCell, one-hot input, the loop over time written out:")
    x_one_hot = [one_hot_lookup[x] for x in x_data]
    inputs = torch.tensor(x_one_hot, dtype=torch.float32, device=device).view(-1, batch_size, input_size)
    labels = torch.tensor(y_data, dtype=torch.long, device=device).view(-1, 1)
    net = CellModel(input_size, hidden_size, batch_size).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    losses["rnncell"] = []
    for epoch in range(epochs):
        loss = 0
        optimizer.zero_grad()
        hidden = net.init_hidden(device)
        p("Predicted string: ", end="")
        predicted = ""
        for input, label in zip(inputs, labels):  # noqa: A001  one time step: input (batch, 4), label (1,)
            hidden = net(input, hidden)
            loss += criterion(hidden, label)  # the sequence's loss is the sum over its steps
            _, idx = hidden.max(dim=1)
            predicted += idx2char[idx.item()]
            p(idx2char[idx.item()], end="")
        loss.backward()
        optimizer.step()
        p(", Epoch [%d/%d] loss=%.4f" % (epoch + 1, epochs, loss.item()))  # noqa: UP031  (the course's format)
        losses["rnncell"].append(loss.item())
        final["rnncell"] = predicted
    if final.get("rnncell", "ohlol") != "ohlol":
        p(f"note: the RNNCell ended on '{final['rnncell']}', not 'ohlol'. Its hidden state (4 numbers in [-1, 1]) "
          "is both its memory and its 4 class scores, and after an 'l' it must answer 'l' once and 'o' once; "
          "some seeds learn that in 15 epochs (try --seed 1), others stay stuck. The next two versions give the "
          "memory its own layer.")

    # ---- 11.2 nn.RNN, 2 layers, batch_first: input (batch, seq_len, input_size), labels (batch * seq_len,)
    p("")
    p("11.2 torch.nn.RNN, num_layers=2, batch_first=True:")
    inputs = torch.tensor(x_one_hot, dtype=torch.float32, device=device).view(batch_size, seq_len, input_size)
    labels = torch.tensor(y_data, dtype=torch.long, device=device)
    net = RNNModel(input_size, hidden_size, batch_size, num_layers=2).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    final["rnn"] = _train_whole_sequence(p, net, optimizer, criterion, inputs, labels, epochs,
                                         losses.setdefault("rnn", []))

    # ---- 11.3 Embedding + RNN + Linear: input is the indices themselves (batch, seq_len)
    p("")
    p("11.3 Embedding(4, 10) + RNN(10 -> 8, 2 layers) + Linear(8 -> 4):")
    inputs = torch.tensor([x_data], dtype=torch.long, device=device)
    net = EmbeddingModel().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    final["embedding"] = _train_whole_sequence(p, net, optimizer, criterion, inputs, labels, epochs,
                                               losses.setdefault("embedding", []))

    fig = figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for key, label in (("rnncell", "11.1 RNNCell (sum over 5 steps / 5)"), ("rnn", "11.2 nn.RNN, 2 layers"),
                       ("embedding", "11.3 Embedding + RNN + Linear")):
        scale = 1 / seq_len if key == "rnncell" else 1.0  # the cell's loss is a sum over steps: show it per step
        ax.plot(range(1, epochs + 1), [v * scale for v in losses[key]], marker="o", label=f"{label}: '{final[key]}'")
    ax.set_title('"hello" -> "ohlol": loss per epoch (legend: final prediction)')
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy per character (nats)")
    ax.legend()
    ax.grid(alpha=0.3)
    board.save(fig, "loss.png")
    return {"target": "ohlol", "predicted": final, "final_loss": {k: v[-1] for k, v in losses.items() if v},
            "epochs": epochs}


def _train_whole_sequence(p, net, optimizer, criterion, inputs, labels, epochs: int, losses: list[float]) -> str:
    """11.2 / 11.3's loop: the model sees the whole sequence at once and returns (seq_len, classes) scores."""
    predicted = ""
    for epoch in range(epochs):
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()

        _, idx = outputs.max(dim=1)
        predicted = "".join([idx2char[x] for x in idx.tolist()])
        p("Predicted: ", predicted, end="")
        p(", Epoch [%d/%d] loss = %.3f" % (epoch + 1, epochs, loss.item()))  # noqa: UP031  (the course's format)
        losses.append(loss.item())
    return predicted
