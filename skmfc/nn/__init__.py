"""Pure torch building blocks of MFCVAE (no scikit-learn in here)."""

from skmfc.nn.conv import ConvLadderDecoder, ConvLadderEncoder
from skmfc.nn.ladder import MLPLadderDecoder, MLPLadderEncoder
from skmfc.nn.model import MFCVAE
from skmfc.nn.prior import MixturePrior

__all__ = ["MFCVAE", "MixturePrior", "MLPLadderEncoder", "MLPLadderDecoder",
           "ConvLadderEncoder", "ConvLadderDecoder"]
