"""Camera vision: from a photo (or a drawing) to MNIST-framed 28x28 digit candidates.

The step runs in small stages, one module each (PP-OCR-like: detection, then recognition):

* :mod:`edge_app.vision.image` - any array in (gray / BGR / BGRA, any dtype, any size) -> one
  uint8 gray image, and the way back to the input's pixel coordinates;
* :mod:`edge_app.vision.scale` - a first look: where the writing is, its stroke width and
  height, and so the polarity, region and scale to read it at;
* :mod:`edge_app.vision.ink` - ink judged against the paper right around it;
* :mod:`edge_app.vision.rulings` - ruled, squared and margin lines taken out of the ink;
* :mod:`edge_app.vision.pieces` - connected pieces of ink;
* :mod:`edge_app.vision.layout` - broken strokes gathered, lines of writing in reading order;
* :mod:`edge_app.vision.lattice` - the spans that may be one digit, and the decoding that the
  model's probabilities drive (where one digit ends, what is not a digit);
* :mod:`edge_app.vision.framing` - one span -> 28x28 the way MNIST was made;
* :mod:`edge_app.vision.api` - :func:`propose` and :func:`find_digits`, tying them together.

Colour images are taken in OpenCV's BGR order (``cv2.imread``, camera frames). RGB works just
as well in practice: only the gray level matters for ink, and the two orders differ only in the
weights given to red and blue.
"""

from edge_app.vision.api import DigitCandidate, Proposal, find_digits, propose
from edge_app.vision.framing import frame_digit

__all__ = ["DigitCandidate", "Proposal", "find_digits", "frame_digit", "propose"]
