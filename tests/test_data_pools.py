"""Pools of attack images: what they hold, their content digest, and the refusals."""
import pytest
from PIL import Image

from core.data import load_digit, load_gallery
from core.data.pools import digit_pool, folder_pool, gallery_pool, images_pool
from core.errors import InputError

LOADING = {"size": 32, "crop_fraction": 1.0, "channels": 3}


def test_a_folder_pool_holds_its_image_files_and_its_digest_follows_their_content(tmp_path):
    for name, colour in (("b.png", "red"), ("a.jpg", "blue")):
        Image.new("RGB", (40, 40), colour).save(tmp_path / name)
    (tmp_path / "README.md").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"")
    pool = folder_pool(tmp_path, **LOADING)
    assert pool.names == ("a.jpg", "b.png") and len(pool) == 2 and pool.description == f"{tmp_path.name} (2 images)"
    assert pool.load(1).tensor.shape == (1, 3, 32, 32) and pool.load(1).source_name == "b.png"
    assert folder_pool(tmp_path, **LOADING).content == pool.content
    assert folder_pool(tmp_path, **LOADING | {"size": 16}).content != pool.content  # loaded otherwise: other pixels
    Image.new("RGB", (40, 40), "green").save(tmp_path / "b.png")
    assert folder_pool(tmp_path, **LOADING).content != pool.content
    with pytest.raises(InputError, match="images 0..1, not 2"):
        pool.load(2)


def test_empty_and_missing_pools_are_refused(tmp_path):
    with pytest.raises(InputError, match="holds no image files"):
        folder_pool(tmp_path, **LOADING)
    with pytest.raises(InputError, match="does not exist"):
        folder_pool(tmp_path / "missing", **LOADING)
    with pytest.raises(InputError, match="holds no images"):
        images_pool("your uploads", [])


def test_bundled_pools():
    digits = digit_pool()
    assert len(digits) == 5000 and digits.names[4000] == "mnist_test_0"
    assert digits.load(4000).digest == load_digit(0).digest
    gallery = gallery_pool(**LOADING)
    assert gallery.load(0).digest == load_gallery(gallery.names[0], **LOADING).digest
    uploads = images_pool("uploads", [gallery.load(1), gallery.load(0)])
    assert uploads.names == gallery.names[1::-1]

