"""Placeholder until its issue is built."""

from fastapi import APIRouter

router = APIRouter()
