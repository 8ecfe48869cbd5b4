"""MAE Inspect's entry point: ``python app.py`` builds the Gradio app and serves it (Hugging Face Spaces run this
file, ``app_file: app.py``). The app itself is the ``mae_app`` package."""

from mae_app import main

if __name__ == "__main__":
    main()
