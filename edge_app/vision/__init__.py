"""Camera vision: from a photo (or a drawing) to MNIST-framed 28x28 digits.

The step runs in small stages, one module each:

* :mod:`edge_app.vision.image` - any array in (gray / BGR / BGRA, any dtype, any size) -> one
  uint8 gray working image of bounded size, and the scale back to the original pixels;
* :mod:`edge_app.vision.ink` - polarity, illumination normalisation and the ink masks;
* :mod:`edge_app.vision.lines` - ruled, squared and margin lines taken out of the ink;
* :mod:`edge_app.vision.pieces` - connected pieces of ink, the pieces of broken digits merged;
* :mod:`edge_app.vision.judge` - is it a digit? (specks, blobs, shadow and table edges are not);
* :mod:`edge_app.vision.segment` - candidates judged and put in reading order;
* :mod:`edge_app.vision.framing` - one candidate -> 28x28 the way MNIST was made;
* :mod:`edge_app.vision.api` - :func:`find_digits`, tying them together.

Colour images are taken in OpenCV's BGR order (``cv2.imread``, camera frames). RGB works just
as well in practice: only the gray level matters for ink, and the two orders differ only in the
weights given to red and blue.
"""

from edge_app.vision.api import DigitCandidate, find_digits
from edge_app.vision.framing import frame_digit

__all__ = ["DigitCandidate", "find_digits", "frame_digit"]
