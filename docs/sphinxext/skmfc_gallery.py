"""Sphinx-Gallery scraper for the PNG files that skmfc's examples write.

The examples draw on :class:`matplotlib.figure.Figure` objects, never on pyplot, and
save them into the folder named by ``SKMFC_EXAMPLES_OUTPUT``, so the gallery's
matplotlib scraper sees none of them. This one embeds, after every code block, each PNG
in that folder that is new or rewritten since it last looked.
"""

import os
import shutil
from pathlib import Path

from sphinx_gallery.scrapers import figure_rst

# (path, modification time) of every PNG already embedded.
_seen = set()


def png_scraper(block, block_vars, gallery_conf):
    """Copy the PNGs that ``block`` wrote into the gallery and return their reST.

    Parameters
    ----------
    block : tuple
        The code block just run (unused: the files tell what it drew).
    block_vars : dict
        Sphinx-Gallery's block variables; ``image_path_iterator`` names the images.
    gallery_conf : dict
        Sphinx-Gallery's configuration.

    Returns
    -------
    str
        The reST that shows the new images, or ``""``.
    """
    # Sphinx-Gallery runs the scrapers inside the example's folder, as the example.
    folder = Path(os.environ["SKMFC_EXAMPLES_OUTPUT"])
    if not folder.is_dir():
        return ""
    new = [(path.stat().st_mtime_ns, path) for path in folder.glob("*.png")]
    new = sorted((stamp, path) for stamp, path in new if (path, stamp) not in _seen)
    image_paths = []
    for (stamp, path), image_path in zip(new, block_vars["image_path_iterator"]):
        _seen.add((path, stamp))
        shutil.copyfile(path, image_path)
        image_paths.append(image_path)
    return figure_rst(image_paths, gallery_conf["src_dir"])
