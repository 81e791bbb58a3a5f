"""Safety: a message -> is it a possible emergency happening now, before any search.

Takes the patient's own words; gives a `SafetyAssessment` (urgent or not, the situation and
the ids of the rules that fired, never message text) from the clinician-readable rule file
`rules.txt`, and the fixed escalation texts to show before any passage.
"""
