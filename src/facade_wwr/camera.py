"""A pinhole camera in a local east/north/up frame, and the exact area of a plane seen in a pixel.

Conventions (docs/design.md, "Geography"):

* world: metres east, north, up (``facade_wwr.geo.LocalFrame``); heading in degrees clockwise from north,
  pitch in degrees up positive, no roll;
* camera frame: x right, y down, z forward (OpenCV); ``R`` rotates world vectors into it and ``C`` is the
  centre, so a world point ``P`` has camera coordinates ``R (P - C)`` and its z is the depth;
* intrinsics ``K``: square pixels, focal length ``(W / 2) / tan(hfov / 2)``, principal point at the image
  centre ``(W / 2, H / 2)``; pixel ``(col i, row j)`` has its centre at ``(i + 0.5, j + 0.5)`` as in via2coco;
* a plane with origin ``P0`` and orthonormal in-plane axes ``a``, ``b`` (a wall: ``a`` along it, ``b`` = up)
  maps its coordinates ``(s, t)`` in metres to the image by the homography ``H = K R [a | b | P0 - C]``;
  with ``G = H^-1`` and ``X = G (u, v, 1)``, the pixel centre ``(u, v)`` sees the plane point
  ``(X0 / X2, X1 / X2)`` at depth ``1 / X2`` (in front of the camera when ``X2 > 0``), and covers
  ``|det G| / |X2|^3`` square metres of the plane (the Jacobian of the projective map ``G``; the scale of
  ``G`` cancels).

This module knows nothing of the synthetic city, so the pose-linking stage can use it on real photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Diagonal of a 35 mm film frame (36 x 24 mm), in millimetres: the reference of EXIF FocalLengthIn35mmFilm.
FILM_DIAGONAL_MM = 43.27


@dataclass(frozen=True)
class Camera:
    """A pose and its image: position (metres), heading and pitch (degrees), hfov (degrees), size (pixels)."""

    east: float
    north: float
    up: float
    heading: float
    pitch: float
    hfov: float
    width: int
    height: int

    @cached_property
    def centre(self) -> np.ndarray:
        return np.array([self.east, self.north, self.up], dtype=np.float64)

    @cached_property
    def focal(self) -> float:
        """Focal length in pixels."""
        return (self.width / 2.0) / math.tan(math.radians(self.hfov) / 2.0)

    @cached_property
    def K(self) -> np.ndarray:
        f = self.focal
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])

    @cached_property
    def R(self) -> np.ndarray:
        """World-to-camera rotation: rows are the camera's right, down and forward axes in world coordinates."""
        h, p = math.radians(self.heading), math.radians(self.pitch)
        forward = np.array([math.sin(h) * math.cos(p), math.cos(h) * math.cos(p), math.sin(p)])
        right = np.array([math.cos(h), -math.sin(h), 0.0])
        down = np.cross(forward, right)
        return np.stack([right, down, forward])

    @property
    def vfov(self) -> float:
        """Vertical field of view in degrees."""
        return math.degrees(2.0 * math.atan((self.height / 2.0) / self.focal))

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image coordinates ``(n, 2)`` and depths ``(n,)`` of world points ``(n, 3)`` (depth <= 0: behind)."""
        cam = (np.asarray(points, dtype=np.float64) - self.centre) @ self.R.T
        depth = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (cam @ self.K.T)[:, :2] / depth[:, None]
        return uv, depth

    def rays(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """World directions ``(..., 3)`` (forward component 1 in camera frame) through image points ``(u, v)``."""
        f = self.focal
        cam = np.stack([(u - self.width / 2.0) / f, (v - self.height / 2.0) / f, np.ones_like(u)], axis=-1)
        return cam @ self.R  # R is orthonormal: camera-to-world is R^T, applied to row vectors as @ R


def pixel_centres(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """``(u, v)`` arrays ``(height, width)`` of pixel centres ``(i + 0.5, j + 0.5)``."""
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    return u, v


def plane_homography(camera: Camera, origin: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``H = K R [a | b | P0 - C]``: plane coordinates ``(s, t, 1)`` in metres to homogeneous image points."""
    basis = np.stack([np.asarray(a, float), np.asarray(b, float), np.asarray(origin, float) - camera.centre], axis=1)
    return camera.K @ camera.R @ basis


def wall_homography(camera: Camera, start: np.ndarray, along: np.ndarray) -> np.ndarray:
    """:func:`plane_homography` of a vertical wall: ``s`` metres along the unit vector ``along`` from the
    ground point ``start`` (east, north, 0), ``z`` metres up."""
    origin = np.array([start[0], start[1], 0.0])
    a = np.array([along[0], along[1], 0.0])
    return plane_homography(camera, origin, a, np.array([0.0, 0.0, 1.0]))


def plane_points(inverse: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(s, t, w')`` of the pixel centres ``(u, v)`` by ``inverse = H^-1``: plane coordinates and the third
    coordinate ``w'`` of ``H^-1 (u, v, 1)`` (the reciprocal depth; > 0 in front of the camera)."""
    x = inverse[0, 0] * u + inverse[0, 1] * v + inverse[0, 2]
    y = inverse[1, 0] * u + inverse[1, 1] * v + inverse[1, 2]
    w = inverse[2, 0] * u + inverse[2, 1] * v + inverse[2, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return x / w, y / w, w


def pixel_plane_area(inverse: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Square metres of the plane covered by a pixel: ``|det H^-1| / |w'|^3`` (``w'`` from :func:`plane_points`)."""
    with np.errstate(divide="ignore"):
        return abs(float(np.linalg.det(inverse))) / np.abs(w) ** 3


def f35_from_hfov(hfov: float, width: int, height: int) -> float:
    """The 35 mm equivalent focal length (mm, diagonal convention of EXIF FocalLengthIn35mmFilm) of ``hfov``."""
    return FILM_DIAGONAL_MM * width / math.hypot(width, height) / (2.0 * math.tan(math.radians(hfov) / 2.0))


def hfov_from_f35(f35: float, width: int, height: int) -> float:
    """``hfov = 2 atan(43.27 mm * W / sqrt(W^2 + H^2) / (2 f35))`` in degrees."""
    return math.degrees(2.0 * math.atan(FILM_DIAGONAL_MM * width / math.hypot(width, height) / (2.0 * f35)))
