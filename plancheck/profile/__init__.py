"""The plan as a typed profile: models, loading with `extends:`, validation."""
from plancheck.profile.loader import ProfileError, load_profile
from plancheck.profile.models import Profile

__all__ = ["Profile", "ProfileError", "load_profile"]
