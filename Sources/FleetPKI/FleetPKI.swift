public enum FleetPKIPlaceholder {}
